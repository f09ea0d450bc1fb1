import assert from "node:assert/strict";
import { currentPidRecord, parsePidRecord, recordIsLive } from "../../lib/process/pid_record.ts";

Deno.test("parsePidRecord() reads JSON records and bare integers, and ignores junk", () => {
  const record = parsePidRecord(
    '{"pid":4242,"kind":"hermes-gateway","argv":["hermes","gateway","run"],"start_time":123,"hermes_home":"/h"}',
  );
  assert.deepEqual(record, {
    pid: 4242,
    kind: "hermes-gateway",
    argv: ["hermes", "gateway", "run"],
    start_time: 123,
    hermes_home: "/h",
  });
  assert.equal(parsePidRecord("4242\n")?.pid, 4242);
  for (const junk of ["", "  ", "garbage", "[1,2]", '{"pid":"x"}', '{"pid":-1}', "null"]) {
    assert.equal(parsePidRecord(junk), undefined, junk);
  }
});

Deno.test("recordIsLive() rejects a reused PID whose start time differs", () => {
  const me = currentPidRecord("/h");
  assert.ok(me.start_time !== null);
  assert.ok(recordIsLive(me));
  assert.ok(!recordIsLive({ ...me, start_time: me.start_time! - 1 }));
  assert.ok(recordIsLive({ ...me, start_time: null }), "unknown start time trusts the PID");
});
