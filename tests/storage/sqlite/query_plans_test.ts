import assert from "node:assert/strict";
import { openDatabase, preparedSql } from "../../../lib/storage/sqlite/database.ts";
import { STATE_MIGRATIONS } from "../../../lib/storage/sqlite/migrations.ts";
import { SqliteStateStore } from "../../../lib/storage/sqlite/state_store.ts";
import type { Expiry } from "../../../lib/storage/state_store.ts";
import { tempDir } from "../../_helpers.ts";

const NEVER: Expiry = () => undefined;

/** Tables that grow with every message: a statement that walks one slows as the history grows. */
const GROWING = /^SCAN (outbox|inbound_journal|messages|outbound_ledger)\b/;
/** Retention and the sweep walk sessions too: they must not read every session each time. */
const SESSIONS = /^SCAN (sessions|s)\b/;
/** The statements of retention and the sweep (older session reads may walk `sessions`). */
const RETENTION =
  /ended_at <|ended_at IS NULL AND s\.id >|maintenance_runs|session_id = \? ORDER BY id LIMIT|search_progress SET indexed_through =\s+min|WHERE rowid IN|WHERE id IN \(SELECT id FROM (outbox|inbound_journal)/;

Deno.test("no statement the store prepares walks a table that grows with every message", async () => {
  await using dir = tempDir();
  const db = openDatabase(`${dir.path}/state.db`, STATE_MIGRATIONS);
  const store = new SqliteStateStore(db);
  try {
    // Everything the gateway asks of the store, once: a reply sent, one deferred until the
    // chat speaks, one interrupted by a drain, then what a start and an operator read.
    for (const [n, chat] of [[1, "alice"], [2, "bob"], [3, "carol"]] as const) {
      const entry = (await store.acceptInbound({
        messageId: `m-${n}`,
        source: { platform: "test", chatType: "dm", chatId: chat, userId: chat },
        text: "hello",
        receivedAt: new Date().toISOString(),
        replyContext: { to: n },
      }, `k-${chat}`))!;
      await store.admitInbound(entry);
      if (n === 3) {
        await store.markInterrupted([entry.id]);
        await store.interruptedInbound(`k-${chat}`);
        continue;
      }
      const session = await store.beginTurn(entry, { expired: NEVER, text: "hello" });
      await store.completeTurn(entry, {
        sessionId: session.id,
        parts: [{ text: "hi!" }],
        deadline: new Date(Date.now() + 3_600_000).toISOString(),
        reply: { text: "hi!", kind: "chat" },
        state: "done",
        outcome: "replied",
      });
      const part = (await store.nextPart(`${(await store.partsOf(entry.id))[0]!.chatKey}`))!;
      await store.startSending(part.id);
      if (n === 1) await store.partSent(part.id, "p-1");
      else await store.partDeferred(part.id, { until: "next_inbound", reason: "600039" });
    }
    await store.unfinishedInbound();
    await store.openParts();
    await store.outboxCounts();
    await store.replyContext("x");
    await store.deliveredPart("inbound:1#0");
    await store.findOpenSession("k-alice");
    await store.search("hello");
    await store.prune(new Date(0));
    await store.prunable(new Date(0));
    await store.openSessionsAfter(0, 10);
    const alice = (await store.findOpenSession("k-alice"))!;
    await store.endSession(alice.id, "idle");
    await store.expiredSessions(new Date(Date.now() + 1000));
    await store.pruneSessions(new Date(Date.now() + 1000));
    await store.recordMaintenance("session_prune", new Date());
    await store.lastMaintenance("session_prune");

    // A walk of a partial index (the open parts, the pending entries) stays as small as what is open.
    const partial =
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'")
        .all() as { name: string }[]).map((row) => row.name);
    const walks = preparedSql(db).flatMap((sql) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
        .map((row) => row.detail)
        .filter((detail) =>
          (GROWING.test(detail) || (RETENTION.test(sql) && SESSIONS.test(detail))) &&
          !partial.some((name) => detail.endsWith(`INDEX ${name}`))
        )
        .map((detail) => `${detail}  <-  ${sql.replace(/\s+/g, " ").slice(0, 100)}`)
    );
    assert.deepEqual(walks, []);
    assert.ok(preparedSql(db).length > 20, "the store's statements were prepared and checked");
    assert.ok(
      preparedSql(db).filter((sql) => RETENTION.test(sql)).length >= 10,
      "retention's statements were prepared and checked",
    );
  } finally {
    store.close();
  }
});
