// Test helper that looks like a gateway to /proc ("hermes-... gateway run"):
// claims the credential named by its arguments, prints the outcome, and holds
// it until killed. Usage: hermes-credential-holder.ts gateway run DIR SCOPE IDENTITY HOME
import { acquireCredentialLock } from "../../lib/process/credential_lock.ts";

const [, , dir, scope, identity, home] = Deno.args;
const claim = await acquireCredentialLock(dir!, scope!, identity!, { home: home! });
console.log(claim.ok ? "claimed" : `refused ${claim.holder.pid}`);
setInterval(() => {}, 1 << 30);
