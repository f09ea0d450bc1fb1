import assert from "node:assert/strict";
import { type Approval, MAX_PENDING_PER_PLATFORM, PairingStore } from "../../lib/auth/pairing.ts";
import { createHash } from "node:crypto";
import {
  CODE_LENGTH,
  hashCode,
  matchesCode,
  PAIRING_ALPHABET,
} from "../../lib/auth/pairing_code.ts";
import { tempDir } from "../_helpers.ts";

/** A store on a temp folder with a clock the test moves. */
function storeAt(dir: string, start = Date.parse("2026-11-21T10:00:00Z")) {
  const clock = { now: start };
  const store = new PairingStore(`${dir}/platforms/pairing`, { now: () => new Date(clock.now) });
  return { store, clock, minutes: (n: number) => void (clock.now += n * 60_000) };
}

async function code(store: PairingStore, platform: string, user: string, name?: string) {
  const request = await store.requestCode(platform, user, { userName: name });
  assert.equal(request.kind, "code", `expected a code for ${user}, got ${request.kind}`);
  return (request as { code: string; requestId: string });
}

function minutesLeft(approval: Approval): number {
  assert.equal(approval.kind, "locked");
  return (approval as Extract<Approval, { kind: "locked" }>).lockouts[0]!.minutesLeft;
}

Deno.test("codes are 8 symbols of the alphabet, distinct per user", async () => {
  await using dir = tempDir();
  const { store } = storeAt(dir.path);
  const codes = new Set<string>();
  for (const user of ["u1", "u2", "u3"]) {
    const { code: c } = await code(store, "local", user);
    assert.equal(c.length, CODE_LENGTH);
    for (const symbol of c) assert.ok(PAIRING_ALPHABET.includes(symbol), `${symbol} in ${c}`);
    codes.add(c);
  }
  assert.equal(codes.size, 3);
});

Deno.test("the pending file holds salted hashes only, mode 0600, and the list shows no code", async () => {
  await using dir = tempDir();
  const { store } = storeAt(dir.path);
  const a = await code(store, "local", "user1", "Alice");
  const b = await code(store, "local", "user2", "Bob");
  const path = `${store.dir}/local-pending.json`;
  const raw = await Deno.readTextFile(path);
  assert.ok(!raw.includes(a.code) && !raw.includes(b.code), raw);
  const entries = Object.values(JSON.parse(raw)) as { hash: string; salt: string }[];
  for (const entry of entries) {
    assert.match(entry.hash, /^[0-9a-f]{64}$/);
    assert.match(entry.salt, /^[0-9a-f]{32}$/);
  }
  assert.notEqual(entries[0]!.salt, entries[1]!.salt);
  assert.equal(await hashCode(entries[0]!.salt, a.code), await hashCode(entries[0]!.salt, a.code));
  assert.notEqual(
    await hashCode(entries[0]!.salt, a.code),
    await hashCode(entries[1]!.salt, a.code),
  );
  for (const name of ["local-pending.json", "_rate_limits.json"]) {
    assert.equal((await Deno.stat(`${store.dir}/${name}`)).mode! & 0o777, 0o600, name);
  }
  const rows = await store.listPending();
  assert.deepEqual(rows.map((r) => [r.userId, r.userName]), [["user1", "Alice"], ["user2", "Bob"]]);
  assert.ok(!JSON.stringify(rows).includes(a.code));
});

Deno.test("approve moves the user to approved, in any case and with spaces, once", async () => {
  await using dir = tempDir();
  const { store } = storeAt(dir.path);
  const { code: c } = await code(store, "local", "alice", "Alice");
  const approval = await store.approveCode(`  ${c.toLowerCase()} `);
  assert.equal(approval.kind, "approved");
  assert.equal((approval as { user: { userId: string } }).user.userId, "alice");
  assert.ok(await store.isApproved("local", "alice"));
  assert.deepEqual(await store.listPending(), []);
  assert.equal((await store.approveCode(c)).kind, "not_found");
  const approvedFile = `${store.dir}/local-approved.json`;
  assert.equal((await Deno.stat(approvedFile)).mode! & 0o777, 0o600);
  assert.deepEqual((await store.awaitingNotice()).map((u) => u.userId), ["alice"]);
  await store.noticeDelivered("local", "alice");
  assert.deepEqual(await store.awaitingNotice(), []);
});

Deno.test("one request per user per 10 minutes; at most 3 pending per platform", async () => {
  await using dir = tempDir();
  const { store, minutes } = storeAt(dir.path);
  const first = await code(store, "local", "u1");
  assert.equal((await store.requestCode("local", "u1")).kind, "rate_limited");
  await code(store, "local", "u2");
  await code(store, "local", "u3");
  assert.equal(MAX_PENDING_PER_PLATFORM, 3);
  assert.equal((await store.requestCode("local", "u4")).kind, "too_many");
  assert.equal((await store.requestCode("local", "u4")).kind, "rate_limited");
  await code(store, "other", "u4"); // another platform is unaffected
  minutes(11);
  const again = await code(store, "local", "u1"); // replaces u1's older code
  assert.notEqual(again.code, first.code);
  assert.equal((await store.listPending("local")).filter((r) => r.userId === "u1").length, 1);
  assert.equal((await store.approveCode(first.code, "local")).kind, "not_found");
  assert.equal((await store.approveCode(again.code, "local")).kind, "approved");
});

Deno.test("codes expire after an hour", async () => {
  await using dir = tempDir();
  const { store, minutes } = storeAt(dir.path);
  const { code: c } = await code(store, "local", "u1");
  minutes(61);
  assert.deepEqual(await store.listPending(), []);
  assert.equal((await store.approveCode(c, "local")).kind, "not_found");
});

Deno.test("5 wrong codes lock the platform for an hour; a valid code is refused meanwhile", async () => {
  await using dir = tempDir();
  const { store, minutes } = storeAt(dir.path);
  const { code: valid } = await code(store, "local", "u1");
  for (let i = 1; i <= 4; i++) {
    const result = await store.approveCode("ZZZZZZZZ");
    assert.deepEqual(result, { kind: "not_found", searched: ["local"], lockedNow: [] });
  }
  const fifth = await store.approveCode("INVALIDCODE");
  assert.equal(fifth.kind, "not_found");
  assert.equal((fifth as Extract<Approval, { kind: "not_found" }>).lockedNow.length, 1);
  assert.equal(minutesLeft(await store.approveCode(valid)), 60);
  assert.equal((await store.approveCode(valid, "local")).kind, "locked");
  assert.equal((await store.requestCode("local", "u2")).kind, "locked");
  assert.equal((await store.lockouts())[0]!.platform, "local");
  // The operator's path by request id is not locked.
  const [row] = await store.listPending("local");
  minutes(30);
  assert.equal(minutesLeft(await store.approveCode(valid)), 30);
  assert.equal((await store.approveRequest(row!.requestId)).kind, "approved");
  minutes(31);
  assert.deepEqual(await store.lockouts(), []);
});

Deno.test("a lockout ends after the hour and the code approves", async () => {
  await using dir = tempDir();
  const { store, minutes } = storeAt(dir.path);
  const { code: valid } = await code(store, "local", "u1");
  for (let i = 0; i < 5; i++) await store.approveCode("ZZZZZZZZ", "local");
  minutes(59);
  assert.equal((await store.approveCode(valid)).kind, "locked");
  minutes(1);
  assert.equal((await store.approveCode(valid)).kind, "approved");
});

Deno.test("approve by user id, revoke, clear pending", async () => {
  await using dir = tempDir();
  const { store } = storeAt(dir.path);
  await code(store, "local", "u1", "Una");
  await code(store, "local", "u2");
  await code(store, "other", "u3");
  const direct = await store.approveUser("local", "u1");
  assert.equal(direct.userName, "Una"); // taken from the pending request
  assert.deepEqual((await store.listPending()).map((r) => r.userId), ["u2", "u3"]);
  await store.approveUser("other", "Zed");
  assert.deepEqual((await store.listApproved()).map((u) => `${u.platform}:${u.userId}`), [
    "local:u1",
    "other:Zed",
  ]);
  assert.ok(await store.isApproved("other", "zed"));
  assert.equal(await store.revoke("other", "ZED"), "Zed");
  assert.equal(await store.isApproved("other", "Zed"), false);
  assert.equal(await store.revoke("other", "Zed"), undefined);
  assert.equal(await store.clearPending("local"), 1);
  assert.equal(await store.clearPending(), 1);
  assert.equal(await store.clearPending(), 0);
});

Deno.test("malformed entries are pruned; a corrupt file is never overwritten", async () => {
  await using dir = tempDir();
  const { store } = storeAt(dir.path);
  await Deno.mkdir(store.dir, { recursive: true });
  const now = Date.parse("2026-11-21T10:00:00Z") / 1000;
  await Deno.writeTextFile(
    `${store.dir}/local-pending.json`,
    JSON.stringify({
      a: "not a dict",
      b: { user_id: "x" },
      c: { user_id: "y", created_at: "yesterday" },
      d: { user_id: "z", created_at: now, hash: "0".repeat(64), salt: "not hex" },
      LEGACY01: { user_id: "old", created_at: now },
    }),
  );
  assert.deepEqual((await store.listPending()).map((r) => r.userId).sort(), ["old", "z"]);
  assert.equal((await store.approveCode("LEGACY01")).kind, "not_found");
  assert.equal(await store.isApproved("local", "old"), false);

  const approved = `${store.dir}/local-approved.json`;
  await Deno.writeTextFile(approved, "{ not json");
  assert.equal(await store.isApproved("local", "anyone"), false);
  await assert.rejects(
    () => store.approveUser("local", "u9"),
    /not a JSON object; nothing was changed/,
  );
  await assert.rejects(() => store.revoke("local", "u9"), /not a JSON object/);
  assert.equal(await Deno.readTextFile(approved), "{ not json");
});

Deno.test("an invalid platform name is refused before any file is touched", async () => {
  await using dir = tempDir();
  const { store } = storeAt(dir.path);
  await assert.rejects(() => store.requestCode("../etc", "u1"), /Invalid platform name/);
  await assert.rejects(() => store.approveCode("AAAAAAAA", "Local/x"), /Invalid platform name/);
});

Deno.test("20 processes requesting and approving at once lose and corrupt nothing", async () => {
  await using dir = tempDir();
  const store = new PairingStore(`${dir.path}/platforms/pairing`);
  const worker = new URL("./_pairing_worker.ts", import.meta.url).pathname;
  const runs = Array.from({ length: 20 }, (_, i) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", worker, store.dir, `p${i % 4}`, String(i), "5"],
      stdout: "piped",
      stderr: "piped",
    }).output());
  const reports: { approved: string[]; refused: number }[] = [];
  for (const output of await Promise.all(runs)) {
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    reports.push(JSON.parse(new TextDecoder().decode(output.stdout)));
  }
  const claimed = reports.flatMap((r) => r.approved).sort();
  const refused = reports.reduce((n, r) => n + r.refused, 0);
  assert.equal(claimed.length + refused, 100);
  assert.ok(claimed.length >= 50, `only ${claimed.length} of 100 approved`);
  // Every approval a process saw is on file (no lost update), and nothing else.
  const stored = (await store.listApproved()).map((u) => u.userId).sort();
  assert.deepEqual(stored, claimed);
  for await (const item of Deno.readDir(store.dir)) {
    if (!item.name.endsWith(".json")) continue;
    const path = `${store.dir}/${item.name}`;
    JSON.parse(await Deno.readTextFile(path)); // every file parses
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600, item.name);
  }
  const leftovers = (await store.listPending()).filter((r) => claimed.includes(r.userId));
  assert.deepEqual(leftovers, []);
});

Deno.test("hashCode() stores what node:crypto stored, so pending codes outlive an upgrade", async () => {
  const salt = "00ff".repeat(8);
  const stored = createHash("sha256").update(`${salt}K7M2QX9P`).digest("hex");
  assert.equal(await hashCode(salt, "K7M2QX9P"), stored);
  assert.equal(await matchesCode({ salt, hash: stored }, "K7M2QX9P"), true);
  assert.equal(await matchesCode({ salt, hash: stored }, "K7M2QX9Q"), false);
  assert.equal(await matchesCode({ salt, hash: stored.toUpperCase() }, "K7M2QX9P"), false);
  assert.equal(await matchesCode({ salt, hash: 42 }, "K7M2QX9P"), false);
});
