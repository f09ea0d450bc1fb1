import assert from "node:assert/strict";
import {
  isStatusStale,
  readRuntimeStatus,
  RuntimeStatusWriter,
} from "../../lib/process/runtime_status.ts";
import { VERSION } from "../../lib/version.ts";
import { tempDir } from "../_helpers.ts";

const t0 = new Date("2026-11-21T06:00:00Z");

Deno.test("RuntimeStatusWriter keeps fields a write does not pass and re-stamps the writer", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway_state.json`;
  const writer = new RuntimeStatusWriter(path, dir.path, () => t0);
  await writer.update({ gateway_state: "starting" });
  await Promise.all([
    writer.update({ gateway_state: "running" }),
    writer.update({ platforms: { local: { state: "receiving" } } }),
    writer.update({ active_agents: 2 }),
  ]);
  const status = readRuntimeStatus(path)!;
  assert.equal(status.gateway_state, "running");
  assert.deepEqual(status.platforms, { local: { state: "receiving" } });
  assert.equal(status.active_agents, 2);
  assert.equal(status.pid, Deno.pid);
  assert.equal(status.hermes_home, dir.path);
  assert.equal(status.version, VERSION);
  assert.equal(status.updated_at, t0.toISOString());
  await writer.update({ exit_reason: null, active_agents: -3 });
  assert.equal(readRuntimeStatus(path)!.active_agents, 0);
});

Deno.test("readRuntimeStatus() treats junk as absent and unknown values as empty", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway_state.json`;
  assert.equal(readRuntimeStatus(path), undefined);
  for (const junk of ["", "[]", "{", '{"pid":"x"}']) {
    await Deno.writeTextFile(path, junk);
    assert.equal(readRuntimeStatus(path), undefined, junk);
  }
  await Deno.writeTextFile(
    path,
    '{"pid":7,"gateway_state":"dancing","active_agents":"many","platforms":[]}',
  );
  const status = readRuntimeStatus(path)!;
  assert.equal(status.gateway_state, null);
  assert.equal(status.active_agents, 0);
  assert.deepEqual(status.platforms, {});
});

Deno.test("isStatusStale() distrusts snapshots older than 120 s", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway_state.json`;
  await new RuntimeStatusWriter(path, dir.path, () => t0).update({ gateway_state: "running" });
  const status = readRuntimeStatus(path)!;
  assert.equal(isStatusStale(status, new Date(t0.getTime() + 119_000)), false);
  assert.equal(isStatusStale(status, new Date(t0.getTime() + 121_000)), true);
});
