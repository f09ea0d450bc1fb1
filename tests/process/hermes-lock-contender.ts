// Test helper that looks like a gateway to /proc ("hermes-... gateway run"):
// claims and releases one credential ROUNDS times, and after each claim checks
// that the lock file still holds its own record (a racing claimer that took a
// half-written lock for corrupt would have removed it). Prints one JSON line
// { claims, lost } at the end.
// Usage: hermes-lock-contender.ts gateway run DIR SCOPE IDENTITY ROUNDS
import { acquireCredentialLock, releaseCredentialLock } from "../../lib/process/credential_lock.ts";
import { parsePidRecord } from "../../lib/process/pid_record.ts";

const [, , dir, scope, identity, rounds] = Deno.args;
let claims = 0;
let lost = 0;
for (let round = 0; round < Number(rounds); round++) {
  const claim = await acquireCredentialLock(dir!, scope!, identity!, { home: "/contender" });
  if (!claim.ok) continue;
  claims++;
  let text = "";
  try {
    text = Deno.readTextFileSync(claim.path);
  } catch {
    // removed under us: lost
  }
  if (parsePidRecord(text)?.pid !== Deno.pid) {
    lost++;
    continue;
  }
  await releaseCredentialLock(dir!, scope!, identity!);
}
console.log(JSON.stringify({ claims, lost }));
