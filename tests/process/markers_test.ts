import assert from "node:assert/strict";
import {
  consumeMarker,
  MARKER_TTL_MS,
  writePlannedStopMarker,
  writeTakeoverMarker,
} from "../../lib/process/markers.ts";
import { tempDir } from "../_helpers.ts";

const self = { pid: 4242, startTime: 1000, home: "/srv/hermes" };
const t0 = new Date("2026-11-21T06:00:00Z");
const later = (ms: number) => new Date(t0.getTime() + ms);

async function exists(path: string) {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("a fresh marker for this process matches once, then is gone", async (t) => {
  await using dir = tempDir();
  for (
    const [name, write] of [["takeover", writeTakeoverMarker], [
      "planned stop",
      writePlannedStopMarker,
    ]] as const
  ) {
    await t.step(name, async () => {
      const path = `${dir.path}/marker.json`;
      assert.ok(await write(path, self, t0));
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.equal(await consumeMarker(path, self, later(59_000)), true);
      assert.equal(await exists(path), false);
      assert.equal(await consumeMarker(path, self, later(59_000)), false, "one-shot");
    });
  }
});

Deno.test("markers that are expired, for another PID, start time or home are ignored and removed", async (t) => {
  await using dir = tempDir();
  const path = `${dir.path}/.gateway-planned-stop.json`;
  const cases: Array<[string, typeof self, Date]> = [
    ["older than 60 s", self, later(MARKER_TTL_MS + 1)],
    ["another PID", { ...self, pid: 4243 }, later(1000)],
    ["another start time (PID reused)", { ...self, startTime: 1001 }, later(1000)],
    ["another home", { ...self, home: "/srv/other" }, later(1000)],
    ["written in the future", self, later(-MARKER_TTL_MS - 1000)],
  ];
  for (const [name, reader, now] of cases) {
    await t.step(name, async () => {
      await writePlannedStopMarker(path, self, t0);
      assert.equal(await consumeMarker(path, reader, now), false);
      assert.equal(await exists(path), false, "the marker must be removed");
    });
  }
});

Deno.test("an unknown start time on either side lets the PID decide", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/.gateway-takeover.json`;
  await writeTakeoverMarker(path, { ...self, startTime: null }, t0);
  assert.equal(await consumeMarker(path, self, later(10)), true);
  await writeTakeoverMarker(path, self, t0);
  assert.equal(await consumeMarker(path, { ...self, startTime: null }, later(10)), true);
});

Deno.test("corrupt markers are removed and never match; writers never throw", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/.gateway-takeover.json`;
  for (const junk of ["", "{", "null", '{"target_pid":4242}']) {
    await Deno.writeTextFile(path, junk);
    assert.equal(await consumeMarker(path, self, t0), false, junk);
    assert.equal(await exists(path), false);
  }
  assert.equal(await writeTakeoverMarker(`${dir.path}/missing/x.json`, self), false);
});
