import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import postgres from "postgres";
import { LeaseKeeper } from "../../../lib/storage/postgres/lease_keeper.ts";
import {
  credentialHash,
  openPgLeases,
  type PgLeases,
} from "../../../lib/storage/postgres/leases.ts";
import { freshDatabase } from "../../_postgres.ts";

const TTL = 45_000;

/**
 * The keeper's leases, counting renewals: `settled()` resolves once the
 * renewal under way (or the next one) has answered and the keeper has seen
 * the answer.
 */
function watched(leases: PgLeases) {
  let renewals = 0;
  let answered = () => {};
  let next = new Promise<void>((resolve) => answered = resolve);
  return {
    get renewals() {
      return renewals;
    },
    renew(hash: string, owner: string, epoch: number, ttlMs: number) {
      renewals++;
      const renewal = leases.renew(hash, owner, epoch, ttlMs);
      const settle = () => {
        // After the keeper's own handler (registered on `renewal` later, in the same turn).
        setTimeout(() => {
          answered();
          next = new Promise<void>((resolve) => answered = resolve);
        }, 0);
      };
      renewal.then(settle, settle);
      return renewal;
    },
    release: (hash: string, owner: string, epoch: number) => leases.release(hash, owner, epoch),
    settled: () => next,
  };
}

function keeperOf(leases: ReturnType<typeof watched>, hash: string, epoch: number) {
  const clock = FakeTimers.createClock(1_000);
  const lost: string[] = [];
  const renewed: Date[] = [];
  const keeper = new LeaseKeeper({
    leases,
    hash,
    owner: "gw-a",
    epoch,
    ttlMs: TTL,
    clock: { now: () => clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout },
    onLost: (reason) => lost.push(reason),
    onRenewed: (expiresAt) => renewed.push(expiresAt),
  });
  return { clock, keeper, lost, renewed };
}

/** A TCP relay to the server that the test can cut as a partition would: packets just stop. */
function relay(port: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let frozen = false;
  let closed = false;
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        if (frozen) continue; // dropped, as by a dead link
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // one side closed
    }
    for (const conn of [from, to]) {
      if (conns.delete(conn)) conn.close();
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.add(client);
      conns.add(server);
      pipe(client, server);
      pipe(server, client);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    freeze() {
      frozen = true;
    },
    async [Symbol.asyncDispose]() {
      if (closed) return;
      closed = true;
      listener.close();
      await accepting.catch(() => {});
      for (const conn of conns) conn.close();
      conns.clear();
    },
  };
}

/**
 * An operator's connection holding the lease row locked, so the keeper's
 * renewal waits on it, in flight; `killWaiting()` then ends the keeper's
 * waiting backend, as pg_terminate_backend does to a session an
 * administrator or a failover ends.
 */
async function lockedRow(url: string, hash: string) {
  const sql = postgres(url, { max: 2, onnotice: () => {}, connection: { application_name: "op" } });
  let release = () => {};
  const done = new Promise<void>((resolve) => release = resolve);
  let locked = () => {};
  const isLocked = new Promise<void>((resolve) => locked = resolve);
  const held = sql.begin(async (tx) => {
    await tx`SELECT 1 FROM credential_leases WHERE credential_hash = ${hash} FOR UPDATE`;
    locked();
    await done;
  });
  await isLocked;
  return {
    async killWaiting(): Promise<void> {
      for (;;) {
        const [row] = await sql`SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'hermes'
            AND wait_event_type = 'Lock'`;
        if (row) {
          await sql`SELECT pg_terminate_backend(${row.pid}::int)`;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 10)); // polls the server's state
      }
    },
    async [Symbol.asyncDispose]() {
      release();
      await held.catch(() => {});
      await sql.end();
    },
  };
}

Deno.test("a keeper renews every TTL/3, each renewal moving the expiry on", async () => {
  const url = await freshDatabase();
  const leases = await openPgLeases(url, { host: "host-a" });
  try {
    const hash = await credentialHash("wecom-bot", "aib-7Qx2");
    const claim = await leases.claim(hash, "gw-a", TTL);
    const spy = watched(leases);
    const { clock, keeper, lost, renewed } = keeperOf(spy, hash, claim.epoch!);
    clock.tick(TTL / 3 - 1);
    assert.equal(spy.renewals, 0, "not before TTL/3");
    for (let i = 1; i <= 4; i++) {
      const answered = spy.settled();
      clock.tick(i === 1 ? 1 : TTL / 3);
      assert.equal(spy.renewals, i);
      await answered;
      assert.equal(renewed.length, i);
    }
    assert.ok(renewed[3]!.getTime() >= renewed[0]!.getTime());
    assert.ok(renewed[0]!.getTime() >= claim.expiresAt!.getTime());
    assert.deepEqual(lost, [], "four TTL/3 periods: more than a TTL, still ours");
    assert.equal((await leases.holder(hash))?.epoch, claim.epoch);
    assert.equal(await keeper.release(), true);
    assert.equal((await leases.holder(hash))?.live, false, "released");
  } finally {
    await leases.close();
  }
});

Deno.test("a keeper whose lease was taken over calls onLost at its next renewal and never renews again", async () => {
  const url = await freshDatabase();
  const leases = await openPgLeases(url, { host: "host-a" });
  const other = await openPgLeases(url, { host: "host-b" });
  try {
    const hash = await credentialHash("wecom-bot", "aib-7Qx2");
    const claim = await leases.claim(hash, "gw-a", TTL);
    const spy = watched(leases);
    const { clock, keeper, lost } = keeperOf(spy, hash, claim.epoch!);
    assert.equal(await leases.release(hash, "gw-a", claim.epoch!), true); // as if it expired
    assert.equal((await other.claim(hash, "gw-b", TTL)).epoch, 2);
    const answered = spy.settled();
    clock.tick(TTL / 3);
    await answered;
    assert.deepEqual(lost, ["the lease expired or another gateway claimed it"]);
    assert.equal(keeper.lost, lost[0]);
    clock.tick(3 * TTL);
    assert.equal(spy.renewals, 1, "no renewal into a lost lease");
    assert.equal(lost.length, 1, "onLost once");
    assert.equal(await keeper.release(), false);
    assert.equal((await other.holder(hash))?.owner, "gw-b", "its release left b's lease alone");
  } finally {
    await Promise.all([leases.close(), other.close()]);
  }
});

Deno.test("a keeper whose connection is killed during a renewal calls onLost at once", async () => {
  const url = await freshDatabase();
  const leases = await openPgLeases(url, { host: "host-a" });
  try {
    const hash = await credentialHash("wecom-bot", "aib-7Qx2");
    const claim = await leases.claim(hash, "gw-a", TTL);
    const spy = watched(leases);
    const { clock, lost } = keeperOf(spy, hash, claim.epoch!);
    await using op = await lockedRow(url, hash);
    const answered = spy.settled();
    clock.tick(TTL / 3);
    await op.killWaiting();
    await answered;
    assert.equal(lost.length, 1, "given up");
    assert.match(
      lost[0]!,
      /^the renewal failed: Cannot renew the lease of [0-9a-f]{16}: the database connection was lost/,
    );
    assert.equal(clock.now - 1_000, TTL / 3, "at the renewal that failed, within one TTL");
    clock.tick(TTL);
    assert.equal(spy.renewals, 1, "not tried again");
  } finally {
    await leases.close();
  }
});

Deno.test("a keeper whose pool was closed calls onLost at its next renewal", async () => {
  const url = await freshDatabase();
  const leases = await openPgLeases(url, { host: "host-a" });
  const hash = await credentialHash("wecom-bot", "aib-7Qx2");
  const claim = await leases.claim(hash, "gw-a", TTL);
  const spy = watched(leases);
  const { clock, lost } = keeperOf(spy, hash, claim.epoch!);
  await leases.close();
  const answered = spy.settled();
  clock.tick(TTL / 3);
  await answered;
  assert.equal(lost.length, 1);
  assert.match(lost[0]!, /^the renewal failed: /);
});

Deno.test("a partitioned keeper, whose renewal never answers, gives up 2/3 TTL after its last renewal", async () => {
  const url = new URL(await freshDatabase());
  await using link = relay(Number(url.port));
  url.port = String(link.port);
  const leases = await openPgLeases(url.href, { host: "host-a", connectTimeout: 30 });
  try {
    const hash = await credentialHash("wecom-bot", "aib-7Qx2");
    const claim = await leases.claim(hash, "gw-a", TTL);
    const spy = watched(leases);
    const { clock, lost, renewed } = keeperOf(spy, hash, claim.epoch!);
    const answered = spy.settled();
    clock.tick(TTL / 3);
    await answered;
    assert.equal(renewed.length, 1, "renewed while the link is up");

    link.freeze();
    clock.tick(TTL / 3);
    assert.equal(spy.renewals, 2, "a renewal sent into the partition");
    assert.deepEqual(lost, [], "not yet: it may still answer");
    clock.tick(TTL / 3 - 1);
    assert.deepEqual(lost, []);
    clock.tick(1);
    assert.deepEqual(lost, ["no renewal answered within 30000 ms"]);
  } finally {
    await link[Symbol.asyncDispose](); // the hung renewal fails; the pool can then close
    await leases.close();
  }
});
