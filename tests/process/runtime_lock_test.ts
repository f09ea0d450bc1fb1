import assert from "node:assert/strict";
import { lockState, tryAcquireLock } from "../../lib/process/runtime_lock.ts";
import { currentPidRecord, readPidRecordFile } from "../../lib/process/pid_record.ts";
import { ROOT, spawnUntilFirstLine, tempDir } from "../_helpers.ts";

function spawnHolder(path: string) {
  return spawnUntilFirstLine([`${ROOT}tests/process/_lock_holder.ts`, path]);
}

Deno.test("tryAcquireLock() is exclusive until released, and writes the holder's record", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.lock`;
  const first = tryAcquireLock(path, currentPidRecord(dir.path));
  assert.ok(first);
  assert.equal(tryAcquireLock(path, currentPidRecord(dir.path)), undefined);
  assert.deepEqual(lockState(path), { held: true, pid: Deno.pid });
  assert.equal(readPidRecordFile(path)?.pid, Deno.pid);
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  first.release();
  first.release();
  assert.deepEqual(lockState(path), { held: false });
  using second = tryAcquireLock(path, currentPidRecord(dir.path));
  assert.ok(second);
});

Deno.test("a lock held by a process killed with SIGKILL is free again", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.lock`;
  const { child, said } = await spawnHolder(path);
  assert.equal(said, "locked");
  assert.deepEqual(lockState(path), { held: true, pid: child.pid });
  assert.equal(tryAcquireLock(path, currentPidRecord(dir.path)), undefined);
  child.kill("SIGKILL");
  await child.status;
  assert.deepEqual(lockState(path), { held: false });
  using mine = tryAcquireLock(path, currentPidRecord(dir.path));
  assert.ok(mine);
});

Deno.test("lockState() of a missing lock file is free", () => {
  assert.deepEqual(lockState("/nonexistent/gateway.lock"), { held: false });
});
