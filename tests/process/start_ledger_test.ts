import assert from "node:assert/strict";
import {
  appendStart,
  readStartLedger,
  recordDeadWindow,
  type StartEntry,
  stormDelaySeconds,
} from "../../lib/process/start_ledger.ts";
import { tempDir } from "../_helpers.ts";

const now = new Date("2026-11-21T12:00:00Z");
const starts = (n: number, kind: StartEntry["kind"] = "unplanned", agoMs = 1_000): StartEntry[] =>
  Array.from({ length: n }, (_, i) => ({
    at: new Date(now.getTime() - agoMs - i * 100).toISOString(),
    pid: 1000 + i,
    kind,
  }));

Deno.test("stormDelaySeconds() waits only after more than 5 unplanned starts in 120 s, doubling to 300 s", () => {
  assert.equal(stormDelaySeconds(starts(5), now), 0);
  assert.equal(stormDelaySeconds(starts(6), now), 10);
  assert.equal(stormDelaySeconds(starts(7), now), 20);
  assert.equal(stormDelaySeconds(starts(10), now), 160);
  assert.equal(stormDelaySeconds(starts(11), now), 300);
  assert.equal(stormDelaySeconds(starts(40), now), 300);
  assert.equal(stormDelaySeconds(starts(9, "replace"), now), 0, "replacements are no storm");
  assert.equal(stormDelaySeconds(starts(9, "after_planned_stop"), now), 0);
  assert.equal(
    stormDelaySeconds(starts(9, "unplanned", 121_000), now),
    0,
    "older starts do not count",
  );
});

Deno.test("the ledger keeps the last 100 starts, skips torn lines, and records a dead window", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway-starts.log`;
  await Deno.writeTextFile(
    path,
    '{"at":"2026-11-21T11:00:00Z","pid":1,"kind":"unplanned"}\n{"at":"20',
  );
  assert.equal(readStartLedger(path).length, 1);
  for (let i = 0; i < 120; i++) {
    assert.ok(await appendStart(path, { at: now.toISOString(), pid: 2000 + i, kind: "replace" }));
  }
  const entries = readStartLedger(path);
  assert.equal(entries.length, 100);
  assert.equal(entries.at(-1)?.pid, 2119);
  assert.ok(await recordDeadWindow(path, 2119, 42));
  assert.equal(readStartLedger(path).at(-1)?.dead_window_ms, 42);
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  assert.equal(
    await appendStart(`${dir.path}/missing/x.log`, starts(1)[0]!),
    false,
    "never throws",
  );
});
