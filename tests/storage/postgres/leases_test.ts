import assert from "node:assert/strict";
import postgres from "postgres";
import {
  credentialHash,
  LeaseLostError,
  openPgLeases,
  type PgLeases,
} from "../../../lib/storage/postgres/leases.ts";
import { openPostgresStateStore } from "../../../lib/storage/postgres/state_store.ts";
import type { MessageEvent } from "../../../lib/platforms/event.ts";
import { recordProcess } from "../../../lib/process/process_table.ts";
import { freshDatabase } from "../../_postgres.ts";

const TTL = 45_000;

/** Two gateways on separate hosts: each its own pool, host name and PID. */
async function twoGateways(url: string) {
  const a = await openPgLeases(url, { host: "host-a", pid: 101 });
  const b = await openPgLeases(url, { host: "host-b", pid: 202 });
  return {
    a,
    b,
    async [Symbol.asyncDispose]() {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

/** What the TTL passing does to a lease whose owner stopped renewing (a dead host). */
async function expire(url: string, hash: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`UPDATE credential_leases SET expires_at = now() - interval '1 second'
      WHERE credential_hash = ${hash}`;
  } finally {
    await sql.end();
  }
}

/**
 * A gateway whose process the test can kill: leases recorded for a
 * `sleep` child of this machine (so a claimant here can see it die).
 */
async function mortalHolder(url: string) {
  const child = new Deno.Command("sleep", { args: ["60"] }).spawn();
  const leases = await openPgLeases(url, {
    host: "host-a",
    pid: child.pid,
    process: recordProcess(child.pid),
  });
  let killed = false;
  return {
    leases,
    /** kill -9, and its exit reaped: its PID is gone. */
    async kill() {
      if (!killed) child.kill("SIGKILL");
      killed = true;
      await child.status;
    },
    async [Symbol.asyncDispose]() {
      await this.kill();
      await leases.close();
    },
  };
}

function event(id: string): MessageEvent {
  return {
    messageId: id,
    source: { platform: "wecom", chatType: "dm", chatId: "ada", userId: "ada" },
    text: `hello ${id}`,
    receivedAt: "2026-06-01T10:00:00.000Z",
  };
}

async function claimTogether(a: PgLeases, b: PgLeases, hash: string) {
  const [x, y] = await Promise.all([a.claim(hash, "gw-a", TTL), b.claim(hash, "gw-b", TTL)]);
  return [x, y] as const;
}

Deno.test("credentialHash() is a SHA-256 of scope and secret, never the secret", async () => {
  const hash = await credentialHash("wecom-bot", "aib-7Qx2");
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.ok(!hash.includes("aib-7Qx2"));
  assert.notEqual(hash, await credentialHash("wecom-bot", "aib-7Qx3"));
  assert.notEqual(hash, await credentialHash("weixin", "aib-7Qx2"), "the scope counts");
});

Deno.test("two gateways claiming a free or an expired lease together: exactly one wins, every round", async () => {
  const url = await freshDatabase();
  await using gw = await twoGateways(url);
  for (let round = 0; round < 40; round++) {
    const hash = await credentialHash("wecom-bot", `bot-${round}`);
    const [x, y] = await claimTogether(gw.a, gw.b, hash);
    assert.equal([x, y].filter((c) => c.epoch !== undefined).length, 1, `free, round ${round}`);
    const winner = x.epoch !== undefined ? "gw-a" : "gw-b";
    const loser = x.epoch !== undefined ? y : x;
    assert.equal(loser.heldBy?.owner, winner);
    assert.equal(x.epoch ?? y.epoch, 1);

    await expire(url, hash);
    const [x2, y2] = await claimTogether(gw.a, gw.b, hash);
    const winners = [x2, y2].filter((c) => c.epoch !== undefined);
    assert.equal(winners.length, 1, `expired, round ${round}`);
    assert.equal(winners[0]!.epoch, 2, "the takeover bumps the epoch");
  }
});

Deno.test("a live lease is refused to another gateway, naming its holder's owner, host and PID", async () => {
  const url = await freshDatabase();
  await using gw = await twoGateways(url);
  const hash = await credentialHash("wecom-bot", "aib-7Qx2");
  const mine = await gw.a.claim(hash, "gw-a", TTL);
  assert.equal(mine.epoch, 1);
  assert.ok(mine.expiresAt && mine.expiresAt.getTime() > Date.now() + TTL / 2);
  const theirs = await gw.b.claim(hash, "gw-b", TTL);
  assert.equal(theirs.epoch, undefined);
  assert.deepEqual(
    { ...theirs.heldBy, expiresAt: undefined },
    { owner: "gw-a", host: "host-a", pid: 101, epoch: 1, expiresAt: undefined },
  );
  assert.equal(theirs.heldBy?.expiresAt.getTime(), mine.expiresAt?.getTime());
});

Deno.test("an expired lease is taken over with the next epoch; the old owner's renewal then reports it lost", async () => {
  const url = await freshDatabase();
  await using gw = await twoGateways(url);
  const hash = await credentialHash("wecom-bot", "aib-7Qx2");
  const old = await gw.a.claim(hash, "gw-a", TTL);
  assert.equal((await gw.a.renew(hash, "gw-a", old.epoch!, TTL)).lost, false, "ours while live");
  await expire(url, hash);
  const taken = await gw.b.claim(hash, "gw-b", TTL);
  assert.equal(taken.epoch, 2);
  assert.deepEqual(await gw.a.renew(hash, "gw-a", old.epoch!, TTL), { lost: true });
  assert.equal(
    (await gw.a.claim(hash, "gw-a", TTL)).heldBy?.owner,
    "gw-b",
    "its renewal did not claim it back",
  );
  const renewed = await gw.b.renew(hash, "gw-b", 2, TTL);
  assert.equal(renewed.lost, false);
  assert.equal((await gw.b.holder(hash))?.host, "host-b");
});

Deno.test("a live lease whose holder's process ended on this machine is taken at once, and its holder's renewal is lost", async () => {
  const url = await freshDatabase();
  await using holder = await mortalHolder(url);
  // The claimant on another host would see nothing; this one shares the process table.
  await using gw = await twoGateways(url);
  const hash = await credentialHash("wecom-bot", "aib-7Qx2");
  const old = await holder.leases.claim(hash, "gw-a", TTL);
  assert.equal(old.epoch, 1);
  assert.equal((await gw.b.claim(hash, "gw-b", TTL)).heldBy?.owner, "gw-a", "alive: refused");
  await holder.kill();
  const taken = await gw.b.claim(hash, "gw-b", TTL);
  assert.equal(taken.epoch, 2, "taken with the next epoch, no TTL waited for");
  assert.deepEqual(await holder.leases.renew(hash, "gw-a", 1, TTL), { lost: true });
});

Deno.test("two gateways that find the same dead holder together: exactly one takes its lease, every round", async () => {
  const url = await freshDatabase();
  await using gw = await twoGateways(url);
  for (let round = 0; round < 10; round++) {
    await using holder = await mortalHolder(url);
    const hash = await credentialHash("wecom-bot", `bot-${round}`);
    await holder.leases.claim(hash, "gw-dead", TTL);
    await holder.kill();
    const [x, y] = await claimTogether(gw.a, gw.b, hash);
    const winners = [x, y].filter((c) => c.epoch !== undefined);
    assert.equal(winners.length, 1, `round ${round}`);
    assert.equal(winners[0]!.epoch, 2);
    const loser = x.epoch === undefined ? x : y;
    assert.match(String(loser.heldBy?.owner), /^gw-[ab]$/, "the loser names the winner");
  }
});

Deno.test("a live lease whose holder is of another process table is never taken early, even with its PID gone here", async () => {
  const url = await freshDatabase();
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const holder = await openPgLeases(url, {
    host: "host-a",
    pid: gone.pid,
    process: { table: "linux:another-boot:4026531836:0", pid: gone.pid, startTime: 1 },
  });
  await using gw = await twoGateways(url);
  try {
    const hash = await credentialHash("wecom-bot", "aib-7Qx2");
    await holder.claim(hash, "gw-a", TTL);
    assert.equal((await gw.b.claim(hash, "gw-b", TTL)).heldBy?.owner, "gw-a");
  } finally {
    await holder.close();
  }
});

Deno.test("leases refuse a recorded process whose PID is not the one the lease names", async () => {
  const url = await freshDatabase();
  await assert.rejects(
    openPgLeases(url, { pid: 101, process: recordProcess() }),
    /Cannot record process \d+ for a lease held by PID 101: give the same PID to both/,
  );
});

Deno.test("a lease an older gateway claimed, which leaves the process of the holder before it, is never taken early", async () => {
  const url = await freshDatabase();
  await using first = await mortalHolder(url);
  await using gw = await twoGateways(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const hash = await credentialHash("wecom-bot", "aib-7Qx2");
    await first.leases.claim(hash, "gw-a", TTL);
    await first.kill();
    await expire(url, hash);
    // What an older gateway's claim writes: owner, PID and epoch, and nothing of its process.
    await sql`UPDATE credential_leases SET owner = 'gw-old', pid = ${Deno.pid}, epoch = epoch + 1,
        expires_at = now() + interval '45 seconds'
      WHERE credential_hash = ${hash}`;
    const claim = await gw.b.claim(hash, "gw-b", TTL);
    assert.equal(claim.heldBy?.owner, "gw-old", "its holder lives: refused");
  } finally {
    await sql.end();
  }
});

Deno.test("an expired lease its owner never renewed is lost to that owner too", async () => {
  const url = await freshDatabase();
  await using gw = await twoGateways(url);
  const hash = await credentialHash("wecom-bot", "aib-7Qx2");
  const old = await gw.a.claim(hash, "gw-a", TTL);
  await expire(url, hash);
  assert.deepEqual(await gw.a.renew(hash, "gw-a", old.epoch!, TTL), { lost: true });
  assert.equal((await gw.a.claim(hash, "gw-a", TTL)).epoch, 2, "claimed again: a new epoch");
});

Deno.test("release() lets another gateway claim at once; the epoch goes on; a stale release changes nothing", async () => {
  const url = await freshDatabase();
  await using gw = await twoGateways(url);
  const hash = await credentialHash("wecom-bot", "aib-7Qx2");
  const mine = await gw.a.claim(hash, "gw-a", TTL);
  assert.equal(await gw.b.release(hash, "gw-b", mine.epoch!), false, "not b's to release");
  assert.equal(await gw.a.release(hash, "gw-a", mine.epoch! + 1), false, "not that epoch");
  assert.ok((await gw.b.claim(hash, "gw-b", TTL)).heldBy, "still a's");
  assert.equal(await gw.a.release(hash, "gw-a", mine.epoch!), true);
  const theirs = await gw.b.claim(hash, "gw-b", TTL);
  assert.equal(theirs.epoch, 2, "no TTL waited for, and the epoch never goes back");
  assert.equal(await gw.a.release(hash, "gw-a", mine.epoch!), false, "released once");
  assert.equal((await gw.a.holder(hash))?.owner, "gw-b");
});

Deno.test("a store fenced by the old owner's lease is refused with LeaseLostError after the takeover; the new owner's writes", async () => {
  const url = await freshDatabase();
  await using gw = await twoGateways(url);
  const hash = await credentialHash("wecom-bot", "aib-7Qx2");
  const old = await gw.a.claim(hash, "gw-a", TTL);
  await using storeA = await openPostgresStateStore(url, {
    max: 2,
    fence: gw.a.fenceFor(hash, "gw-a", old.epoch!),
  });
  assert.ok(await storeA.acceptInbound(event("m-1"), "k1"), "written while the lease is a's");

  await expire(url, hash);
  await assert.rejects(storeA.acceptInbound(event("m-2"), "k1"), (error) => {
    assert.ok(error instanceof LeaseLostError, String(error));
    assert.equal(error.code, "lease_lost");
    assert.match(error.message, /at epoch 1 is no longer ours \(it expired\)/);
    return true;
  });

  const taken = await gw.b.claim(hash, "gw-b", TTL);
  await using storeB = await openPostgresStateStore(url, {
    max: 2,
    fence: gw.b.fenceFor(hash, "gw-b", taken.epoch!),
  });
  await assert.rejects(storeA.acceptInbound(event("m-3"), "k1"), (error) => {
    assert.ok(error instanceof LeaseLostError, String(error));
    assert.match(error.message, /no longer ours \(it is now gw-b's on host-b \(epoch 2\)\)/);
    return true;
  });
  assert.ok(await storeB.acceptInbound(event("m-3"), "k1"), "the new owner writes");
  assert.deepEqual(
    (await storeB.unfinishedInbound()).map((e) => e.event.messageId),
    ["m-1", "m-3"],
    "nothing of the refused writes reached the journal",
  );

  // A's re-claim is a new epoch: its old fence stays refused.
  assert.equal(await gw.b.release(hash, "gw-b", taken.epoch!), true);
  assert.equal((await gw.a.claim(hash, "gw-a", TTL)).epoch, 3);
  await assert.rejects(storeA.acceptInbound(event("m-4"), "k1"), LeaseLostError);
});
