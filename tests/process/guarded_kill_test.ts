import assert from "node:assert/strict";
import { signalIfSame, waitForExit } from "../../lib/process/guarded_kill.ts";
import { readIdentity } from "../../lib/process/identity.ts";

Deno.test("signalIfSame() refuses a PID whose start time changed, and signals the right one", async () => {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const startTime = readIdentity(child.pid)!.startTime;
    assert.equal(signalIfSame(child.pid, startTime + 1, "SIGTERM"), "reused");
    assert.equal(await waitForExit(child.pid, startTime, { timeoutMs: 100 }), false, "still alive");
    assert.equal(signalIfSame(child.pid, startTime, "SIGTERM"), "sent");
    assert.equal((await child.status).signal, "SIGTERM");
    assert.equal(await waitForExit(child.pid, startTime, { timeoutMs: 1_000 }), true);
    assert.equal(signalIfSame(child.pid, startTime, "SIGTERM"), "gone");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
  }
});
