import assert from "node:assert/strict";
import { claimPidFile, releasePidFile } from "../../lib/process/pid_file.ts";
import { currentPidRecord, readPidRecordFile } from "../../lib/process/pid_record.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("claimPidFile() creates the record exclusively and leaves no temporary file", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.pid`;
  const record = currentPidRecord(dir.path);
  assert.equal(claimPidFile(path, record), true);
  assert.deepEqual(readPidRecordFile(path), record);
  assert.equal(claimPidFile(path, { ...record, pid: 1 }), false, "the second claim loses");
  assert.equal(readPidRecordFile(path)?.pid, record.pid, "and changes nothing");
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["gateway.pid"]);
});

Deno.test("releasePidFile() removes the file only while it names the given PID", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.pid`;
  claimPidFile(path, currentPidRecord(dir.path));
  assert.equal(releasePidFile(path, Deno.pid + 1), false);
  assert.ok(readPidRecordFile(path));
  assert.equal(releasePidFile(path, Deno.pid), true);
  assert.equal(readPidRecordFile(path), undefined);
});
