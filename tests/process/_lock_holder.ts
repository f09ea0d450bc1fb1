// Test helper: takes the runtime lock named by the first argument, prints
// "locked", and holds it until killed.
import { tryAcquireLock } from "../../lib/process/runtime_lock.ts";
import { currentPidRecord } from "../../lib/process/pid_record.ts";

const lock = tryAcquireLock(Deno.args[0]!, currentPidRecord("/test-home"));
console.log(lock ? "locked" : "busy");
if (lock) setInterval(() => {}, 1 << 30);
