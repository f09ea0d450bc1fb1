/**
 * Costs of access control (`deno task bench`): the authorization stage for
 * an approved user under `pairing` (reads the approved file on every
 * message, so revocations apply at once) against an open policy, with 1,000
 * approved users on file; the lookup of an unknown sender among 10,000
 * approved users (an index, not a scan); and a stranger's code request and
 * an approval (flock, fsynced atomic writes). Medians of many runs.
 *
 * @module
 */

import { createAuthorizer } from "../../lib/auth/authorizer.ts";
import { PairingStore } from "../../lib/auth/pairing.ts";
import { parseConfig } from "../../lib/config/schema.ts";
import "../../lib/platforms/builtin.ts";
import { idsFoldCase } from "../../lib/platforms/registry.ts";
import type { MessageEvent } from "../../lib/platforms/event.ts";
import { Logger } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";

const dir = Deno.makeTempDirSync({ prefix: "hermes-auth-bench-" });
const store = new PairingStore(`${dir}/pairing`, { idsFoldCase });
for (let i = 0; i < 1000; i++) await store.approveUser("local", `user-${i}`);
const log = new Logger({ level: "error", sinks: [], masker: new SecretMasker() });

const event = (user: string): MessageEvent => ({
  messageId: crypto.randomUUID(),
  source: { platform: "local", chatType: "dm", chatId: user, userId: user },
  text: "hi",
  receivedAt: new Date().toISOString(),
});

async function medianMicros(runs: number, work: (i: number) => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await work(i);
    times.push((performance.now() - start) * 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const open = createAuthorizer({ config: parseConfig({}), env: {}, store, log, idsFoldCase });
const pairing = createAuthorizer({
  config: parseConfig({ local: { dm_policy: "pairing" } }),
  env: {},
  store,
  log,
  idsFoldCase,
});
const openUs = await medianMicros(5000, () => Promise.resolve(open.authorize(event("user-500"))));
const pairedUs = await medianMicros(
  5000,
  () => Promise.resolve(pairing.authorize(event("user-500"))),
);
const allowlisted = createAuthorizer({
  config: parseConfig({ local: { dm_policy: "pairing", allow_from: ["user-500"] } }),
  env: {},
  store,
  log,
  idsFoldCase,
});
const listedUs = await medianMicros(
  5000,
  () => Promise.resolve(allowlisted.authorize(event("user-500"))),
);

// 10,000 approved users written as a file (as an older install may hold them), on a
// platform whose ids fold case: a miss used to compare the sender with every one.
const many: Record<string, { approved_at: number }> = {};
for (let i = 0; i < 10_000; i++) many[`User-${i}`] = { approved_at: 1 };
await Deno.writeTextFile(`${dir}/pairing/wecom-approved.json`, JSON.stringify(many));
await store.isApproved("wecom", "warm-up");
const unknownUs = await medianMicros(5000, (i) => store.isApproved("wecom", `stranger-${i}`));

const codes: string[] = [];
const requestUs = await medianMicros(200, async (i) => {
  if (i % 3 === 0) await store.clearPending("bench");
  const request = await store.requestCode("bench", `stranger-${i}`);
  if (request.kind === "code") codes.push(request.code);
});
await store.clearPending("bench");
const fresh: string[] = [];
for (let i = 0; i < 3; i++) {
  const r = await store.requestCode("approve", `s-${i}`);
  if (r.kind === "code") fresh.push(r.code);
}
const approveUs = await medianMicros(3, (i) => store.approveCode(fresh[i]!));

console.log(`authorize, open policy:                     median ${openUs.toFixed(1)} µs`);
console.log(`authorize, allow_from hit:                  median ${listedUs.toFixed(1)} µs`);
console.log(
  `authorize, paired user (1,000 on file):     median ${pairedUs.toFixed(1)} µs (${
    (pairedUs / openUs).toFixed(0)
  }x open)`,
);
console.log(
  `unknown sender, 10,000 approved on file:    median ${unknownUs.toFixed(1)} µs`,
);
console.log(
  `stranger's code request (lock + 2 fsyncs):  median ${(requestUs / 1000).toFixed(2)} ms`,
);
console.log(
  `approve by code (lock + 3 fsyncs):          median ${(approveUs / 1000).toFixed(2)} ms`,
);
await Deno.remove(dir, { recursive: true });
