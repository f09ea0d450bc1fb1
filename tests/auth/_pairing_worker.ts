/**
 * A process of the pairing concurrency test: requests codes for a few users
 * of one platform and approves them, printing one JSON line of what it did.
 * Usage: deno run -A _pairing_worker.ts DIR PLATFORM WORKER ROUNDS
 */
import { PairingStore } from "../../lib/auth/pairing.ts";

const [dir, platform, worker, rounds] = Deno.args;
const store = new PairingStore(dir!);
const approved: string[] = [];
let refused = 0;
for (let round = 0; round < Number(rounds); round++) {
  const user = `w${worker}-u${round}`;
  const request = await store.requestCode(platform!, user, { userName: `Worker ${worker}` });
  if (request.kind !== "code") {
    refused++;
    continue;
  }
  const approval = await store.approveCode(request.code);
  if (approval.kind === "approved") approved.push(approval.user.userId);
}
console.log(JSON.stringify({ approved, refused }));
