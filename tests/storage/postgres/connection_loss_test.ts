import assert from "node:assert/strict";
import postgres from "postgres";
import { openPostgresStateStore } from "../../../lib/storage/postgres/state_store.ts";
import { StoreConnectionError } from "../../../lib/storage/postgres/unit_of_work.ts";
import type { MessageEvent } from "../../../lib/platforms/event.ts";
import { freshDatabase } from "../../_postgres.ts";

function event(id: string): MessageEvent {
  return {
    messageId: id,
    source: { platform: "test", chatType: "dm", chatId: "ada", userId: "ada" },
    text: `hello ${id}`,
    receivedAt: "2026-06-01T10:00:00.000Z",
  };
}

/**
 * A second connection, as an operator's: it can hold the journal locked (so
 * the store's unit of work is in flight, waiting) and kill the store's
 * waiting backend, as `pg_terminate_backend` does to a session a failover
 * or an administrator ends.
 */
function operator(url: string) {
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  let release = () => {};
  let held: Promise<unknown> = Promise.resolve();
  return {
    sql,
    /** Holds the journal locked until `unlock()`. */
    async lockJournal() {
      let locked = () => {};
      const isLocked = new Promise<void>((resolve) => locked = resolve);
      const done = new Promise<void>((resolve) => release = resolve);
      held = sql.begin(async (tx) => {
        await tx`LOCK TABLE inbound_journal IN ACCESS EXCLUSIVE MODE`;
        locked();
        await done;
      });
      await isLocked;
    },
    async unlock() {
      release();
      await held;
    },
    /**
     * Kills the store's backend once it waits for the lock (a unit of work in
     * flight); with `until`, again at each try, until `until` settles.
     */
    async killWaiting(until?: Promise<unknown>): Promise<void> {
      let settled = false;
      until?.then(() => settled = true, () => settled = true);
      for (;;) {
        if (settled) return;
        const [row] = await sql`SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'hermes'
            AND wait_event_type = 'Lock'`;
        if (row) {
          await sql`SELECT pg_terminate_backend(${row.pid}::int)`;
          if (!until) return;
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

Deno.test("a connection killed mid-flight is retried on a new one: the unit of work is done once", async () => {
  const url = await freshDatabase();
  await using store = await openPostgresStateStore(url, { max: 1 });
  await using op = operator(url);
  await op.lockJournal();
  const accepted = store.acceptInbound(event("m-1"), "k1");
  await op.killWaiting();
  await op.unlock();
  const entry = await accepted;
  assert.ok(entry, "accepted after the reconnect");
  assert.deepEqual((await store.unfinishedInbound()).map((e) => e.event.messageId), ["m-1"]);
  assert.equal(await store.acceptInbound(event("m-1"), "k1"), undefined, "journaled once");
  assert.deepEqual(store.link, { up: true });
});

Deno.test("a connection lost on every try rejects the unit with a StoreConnectionError, and the store goes on", async () => {
  const url = await freshDatabase();
  await using store = await openPostgresStateStore(url, { max: 1 });
  await using op = operator(url);
  await op.lockJournal();
  const accepted = store.acceptInbound(event("m-1"), "k1");
  const rejected = assert.rejects(accepted, (error) => {
    assert.ok(error instanceof StoreConnectionError, String(error));
    assert.equal(error.code, "store_unavailable");
    assert.equal(error.unknown, false, "it never reached its commit: it was not done");
    assert.match(error.message, /^Cannot write the state: the database connection was lost/);
    return true;
  });
  await op.killWaiting(accepted); // every try of it
  await rejected;
  assert.equal(store.link.up, false);
  assert.match(store.link.error ?? "", /connection was lost/);
  await op.unlock();
  assert.ok(await store.acceptInbound(event("m-1"), "k1"), "not journaled by the failed unit");
  assert.equal(store.link.up, true, "up again");
});

Deno.test("idle connections killed under the pool are replaced: reads and writes go on", async () => {
  const url = await freshDatabase();
  await using store = await openPostgresStateStore(url, { max: 2 });
  await using op = operator(url);
  assert.ok(await store.acceptInbound(event("m-1"), "k1"));
  await op.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'hermes'`;
  assert.equal((await store.unfinishedInbound()).length, 1);
  assert.ok(await store.acceptInbound(event("m-2"), "k1"));
  assert.equal((await store.unfinishedInbound()).length, 2);
});
