import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/schema.ts";
import {
  maintainInBackground,
  planMaintenance,
  runMaintenance,
  SESSION_PRUNE_TASK,
} from "../../lib/gateway/maintenance.ts";
import { openDatabase } from "../../lib/storage/sqlite/database.ts";
import { STATE_MIGRATIONS } from "../../lib/storage/sqlite/migrations.ts";
import { openSqliteStateStore, SqliteStateStore } from "../../lib/storage/sqlite/state_store.ts";
import { Logger, type LogRecord } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";
import type { StateStore } from "../../lib/storage/state_store.ts";
import { tempDir } from "../_helpers.ts";

const DAY_MS = 86_400_000;
let nextId = 1;

/** An ended session with one exchange, its journal entry finished, its reply part sent. */
async function endedSession(store: StateStore, at: Date, user: string): Promise<number> {
  const entry = (await store.acceptInbound({
    messageId: `m-${nextId++}`,
    source: { platform: "test", chatType: "dm", chatId: user, userId: user },
    text: `hello from ${user}`,
    receivedAt: at.toISOString(),
  }, `k-${user}`))!;
  const session = await store.beginTurn(entry, {
    expired: () => undefined,
    text: entry.event.text,
  });
  await store.completeTurn(entry, {
    sessionId: session.id,
    reply: { text: "hi", kind: "chat" },
    parts: [{ text: "hi" }],
    deadline: new Date(at.getTime() + 3_600_000).toISOString(),
    state: "done",
    outcome: "replied",
  });
  const [part] = await store.partsOf(entry.id);
  await store.startSending(part!.id);
  await store.partSent(part!.id, "p");
  await store.endSession(session.id, "idle");
  return session.id;
}

/** An open session opened now: the newest session, which a prune always keeps. */
async function newest(store: StateStore, user: string): Promise<void> {
  const entry = (await store.acceptInbound({
    messageId: `m-${nextId++}`,
    source: { platform: "test", chatType: "dm", chatId: user, userId: user },
    text: "still here",
    receivedAt: new Date().toISOString(),
  }, `k-${user}`))!;
  await store.beginTurn(entry, { expired: () => undefined, text: entry.event.text });
}

Deno.test("runMaintenance() prunes ended sessions at most once a day, across restarts, and the journal every time", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const config = parseConfig({
    sessions: { retention_days: 30 },
    gateway: { journal_retention_days: 2 },
  });
  let store = openSqliteStateStore(path, { now: () => clock.now });
  try {
    await endedSession(store, clock.now, "alice");
    clock.now = new Date(clock.now.getTime() + 40 * DAY_MS);
    await newest(store, "keeper");
    const first = await runMaintenance({ store, config, now: () => clock.now });
    assert.deepEqual(first.sessions, { sessions: 1, messages: 2 });
    assert.deepEqual(first.finished, { journal: 1, ledger: 0, outbox: 1 });

    // Bob's session expires an hour later; the gateway restarts in between.
    const today = clock.now;
    clock.now = new Date(today.getTime() - 31 * DAY_MS);
    await endedSession(store, clock.now, "bob");
    clock.now = today;
    await newest(store, "keeper2");
    store.close();
    store = openSqliteStateStore(path, { now: () => clock.now });
    clock.now = new Date(clock.now.getTime() + 3_600_000);
    const soon = await runMaintenance({ store, config, now: () => clock.now });
    assert.equal(soon.sessions, undefined, "not due: it ran an hour ago");
    assert.equal(soon.finished.journal, 1, "finished entries go on every run");
    const waiting = await store.expiredSessions(new Date(clock.now.getTime() - 30 * DAY_MS));
    assert.equal(waiting.sessions.length, 1, "Bob's session waits for the next day's run");

    clock.now = new Date(clock.now.getTime() + DAY_MS);
    const next = await runMaintenance({ store, config, now: () => clock.now });
    assert.deepEqual(next.sessions, { sessions: 1, messages: 2 });
    assert.deepEqual(
      (await store.listSessions({ includeEnded: true })).map((s) => s.key).sort(),
      ["k-keeper", "k-keeper2"],
    );
  } finally {
    store.close();
  }
});

Deno.test("runMaintenance() leaves sessions alone with auto_prune off unless forced, and compacts state.db when asked", async () => {
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  using store = openSqliteStateStore(`${dir.path}/state.db`, { now: () => clock.now });
  for (let i = 0; i < 50; i++) await endedSession(store, clock.now, `u${i}`);
  await newest(store, "keeper");
  clock.now = new Date(clock.now.getTime() + 100 * DAY_MS);
  const off = parseConfig({ sessions: { auto_prune: false, vacuum_after_prune: true } });
  assert.equal(
    (await runMaintenance({ store, config: off, now: () => clock.now })).sessions,
    undefined,
  );

  const plan = await planMaintenance(store, off, clock.now);
  assert.equal(plan.sessions.sessions.length, 50);
  assert.equal(plan.sessions.messages, 100);
  assert.equal(plan.sessionsBefore, new Date(clock.now.getTime() - 90 * DAY_MS).toISOString());

  const forced = await runMaintenance({ store, config: off, now: () => clock.now, force: true });
  assert.deepEqual(forced.sessions, { sessions: 50, messages: 100 });
  assert.equal(forced.vacuumed, true);
  assert.equal((await planMaintenance(store, off, clock.now)).sessions.sessions.length, 0);
});

Deno.test("a prune that fails is logged, not thrown, keeps what it could not finish, and runs again next time", async () => {
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const db = openDatabase(`${dir.path}/state.db`, STATE_MIGRATIONS);
  using store = new SqliteStateStore(db, () => clock.now);
  await endedSession(store, clock.now, "alice");
  await newest(store, "keeper");
  clock.now = new Date(clock.now.getTime() + 100 * DAY_MS);
  // SQLite refuses the delete, as a full or read-only disk would.
  db.exec(`CREATE TRIGGER refuse BEFORE DELETE ON messages
             BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
  const records: LogRecord[] = [];
  const log = new Logger({
    level: "info",
    sinks: [{ format: "json", write: (_line, record) => void records.push(record) }],
    masker: new SecretMasker(),
  });
  const config = parseConfig({});
  assert.equal(await maintainInBackground({ store, config, log, now: () => clock.now }), undefined);
  assert.deepEqual(records.map((r) => [r.level, r.msg]), [
    ["warn", "pruning failed; it is tried again on the next run"],
  ]);
  assert.equal(await store.lastMaintenance(SESSION_PRUNE_TASK), undefined, "not recorded as run");
  assert.equal((await planMaintenance(store, config, clock.now)).sessions.messages, 2);

  db.exec("DROP TRIGGER refuse");
  const report = await maintainInBackground({ store, config, log, now: () => clock.now });
  assert.deepEqual(report?.sessions, { sessions: 1, messages: 2 });
});
