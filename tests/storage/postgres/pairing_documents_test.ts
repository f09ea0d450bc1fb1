import assert from "node:assert/strict";
import { PairingStore } from "../../../lib/auth/pairing.ts";
import { PgPairingDocuments } from "../../../lib/storage/postgres/pairing_documents.ts";
import { openPairing } from "../../../lib/auth/pairing_backend.ts";
import { freshDatabase } from "../../_postgres.ts";
import { tempDir } from "../../_helpers.ts";

/** Two hosts' stores on one database (each its own documents, pool and cache). */
async function twoHosts() {
  const url = await freshDatabase();
  const docsA = new PgPairingDocuments(url);
  const docsB = new PgPairingDocuments(url);
  return {
    a: new PairingStore(docsA),
    b: new PairingStore(docsB),
    async [Symbol.asyncDispose]() {
      await docsA.close();
      await docsB.close();
    },
  };
}

Deno.test("a code issued on one host is approved on another, and the first host lets the user in at once", async () => {
  await using hosts = await twoHosts();
  assert.equal(await hosts.a.isApproved("wecom", "zhangsan"), false);
  const request = await hosts.a.requestCode("wecom", "zhangsan", { userName: "Zhang San" });
  assert.equal(request.kind, "code");
  const code = (request as { code: string }).code;
  assert.deepEqual((await hosts.b.listPending()).map((p) => [p.platform, p.userId]), [
    ["wecom", "zhangsan"],
  ]);
  const approval = await hosts.b.approveCode(code.toLowerCase());
  assert.equal(approval.kind, "approved");
  assert.equal(await hosts.a.isApproved("wecom", "zhangsan"), true, "the approval is seen");
  assert.deepEqual((await hosts.a.awaitingNotice()).map((u) => u.userId), ["zhangsan"]);
  await hosts.a.noticeDelivered("wecom", "zhangsan");
  assert.deepEqual(await hosts.b.awaitingNotice(), []);
  assert.equal(await hosts.b.revoke("wecom", "zhangsan"), "zhangsan");
  assert.equal(await hosts.a.isApproved("wecom", "zhangsan"), false, "the revocation too");
});

Deno.test("wrong codes from two hosts add up to one lockout, and a request is rate limited across hosts", async () => {
  await using hosts = await twoHosts();
  await hosts.a.requestCode("wecom", "lisi");
  assert.equal((await hosts.b.requestCode("wecom", "lisi")).kind, "rate_limited");
  for (let i = 0; i < 4; i++) {
    const store = i % 2 === 0 ? hosts.a : hosts.b;
    assert.equal((await store.approveCode("WRONGONE", "wecom")).kind, "not_found");
  }
  const fifth = await hosts.b.approveCode("WRONGONE", "wecom");
  assert.equal(fifth.kind, "not_found");
  assert.equal((fifth as { readonly lockedNow: readonly unknown[] }).lockedNow.length, 1);
  assert.deepEqual((await hosts.a.lockouts()).map((l) => l.platform), ["wecom"]);
  assert.equal((await hosts.a.approveCode("WRONGONE", "wecom")).kind, "locked");
});

Deno.test("the same code approved on two hosts at once is approved once", async () => {
  await using hosts = await twoHosts();
  const request = await hosts.a.requestCode("telegram", "42");
  const code = (request as { code: string }).code;
  const results = await Promise.all([hosts.a.approveCode(code), hosts.b.approveCode(code)]);
  assert.deepEqual(results.map((r) => r.kind).sort(), ["approved", "not_found"]);
  assert.equal((await hosts.b.listApproved("telegram")).length, 1);
});

Deno.test("a home moving to PostgreSQL keeps its approved users: the database takes the pairing files once", async () => {
  await using dir = tempDir();
  const pairingDir = `${dir.path}/platforms/pairing`;
  const files = new PairingStore(pairingDir);
  await files.approveUser("wecom", "zhangsan");
  const storage = {
    backend: "postgres" as const,
    url: await freshDatabase(),
    pool_max: 2,
    synchronous: "full" as const,
  };
  const first = openPairing(storage, { pairingDir });
  try {
    assert.equal(await first.store.isApproved("wecom", "zhangsan"), true, "imported");
    await first.store.revoke("wecom", "zhangsan");
  } finally {
    await first.close();
  }
  const again = openPairing(storage, { pairingDir });
  try {
    assert.equal(await again.store.isApproved("wecom", "zhangsan"), false, "not imported twice");
  } finally {
    await again.close();
  }
});
