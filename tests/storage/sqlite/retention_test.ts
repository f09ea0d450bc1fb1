import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../../../lib/storage/sqlite/database.ts";
import { STATE_MIGRATIONS } from "../../../lib/storage/sqlite/migrations.ts";
import { SqliteStateStore } from "../../../lib/storage/sqlite/state_store.ts";
import type { Expiry, SessionRecord } from "../../../lib/storage/state_store.ts";
import { tempDir } from "../../_helpers.ts";

const NEVER: Expiry = () => undefined;

/** A store on a real file whose clock the test moves. */
function openStore(path: string, clock: { now: Date }) {
  const db = openDatabase(path, STATE_MIGRATIONS);
  return { db, store: new SqliteStateStore(db, () => clock.now) };
}

let nextId = 1;
/** One exchange in the session of `user` (opened when needed), as the gateway stores it. */
async function converse(
  store: SqliteStateStore,
  clock: { now: Date },
  user: string,
  text: string,
): Promise<SessionRecord> {
  const entry = (await store.acceptInbound({
    messageId: `m-${nextId++}`,
    source: { platform: "test", chatType: "dm", chatId: user, userId: user },
    text,
    receivedAt: clock.now.toISOString(),
  }, `k-${user}`))!;
  const session = await store.beginTurn(entry, { expired: NEVER, text });
  await store.completeTurn(entry, {
    sessionId: session.id,
    reply: { text: `re: ${text}`, kind: "chat" },
    parts: [{ text: `re: ${text}` }],
    deadline: new Date(clock.now.getTime() + 3_600_000).toISOString(),
    state: "done",
    outcome: "replied",
  });
  return session;
}

/** FTS5's own check that an index matches its content (throws on a mismatch). */
function checkIndexes(db: DatabaseSync): void {
  for (const table of ["messages_words", "messages_trigram"]) {
    db.exec(`INSERT INTO ${table} (${table}, rank) VALUES ('integrity-check', 1)`);
  }
  db.exec("INSERT INTO messages_bigram (messages_bigram) VALUES ('integrity-check')");
}

/** Rows of the three indexes matching `query` whose message is gone. */
function orphans(db: DatabaseSync, table: string, query: string): number[] {
  return db.prepare(
    `SELECT rowid AS id FROM ${table} WHERE ${table} MATCH ?
       AND rowid NOT IN (SELECT id FROM messages)`,
  ).all(query).map((row) => Number(row.id));
}

Deno.test("pruneSessions() removes sessions ended before the cutoff with their messages and search rows, and nothing else", async () => {
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const { db, store } = openStore(`${dir.path}/state.db`, clock);
  try {
    const old = await converse(store, clock, "alice", "ancient walrus 旧的天气");
    await converse(store, clock, "alice", "second walrus");
    await store.endSession(old.id, "idle");
    const alsoOld = await converse(store, clock, "bob", "ancient heron");
    await store.endSession(alsoOld.id, "daily");
    await store.search("walrus"); // indexed: the prune has to take them out of the indexes
    clock.now = new Date("2026-04-15T10:00:00Z");
    const recentEnded = await converse(store, clock, "carol", "recent walrus");
    await store.endSession(recentEnded.id, "idle");
    const open = await converse(store, clock, "dave", "open walrus");

    const cutoff = new Date("2026-03-01T00:00:00Z");
    const expired = await store.expiredSessions(cutoff);
    assert.deepEqual(expired.sessions.map((s) => s.id), [old.id, alsoOld.id]);
    assert.equal(expired.messages, 6);

    assert.deepEqual(await store.pruneSessions(cutoff), { sessions: 2, messages: 6 });
    assert.deepEqual(
      (await store.search("walrus")).map((hit) => hit.text).sort(),
      ["open walrus", "re: open walrus", "re: recent walrus", "recent walrus"],
    );
    assert.deepEqual(await store.search("ancient"), []);
    assert.deepEqual(await store.search("天气"), [], "the CJK pairs index forgot them too");
    assert.deepEqual(await store.search("旧的天"), [], "and the trigram index");
    assert.deepEqual(orphans(db, "messages_words", "ancient"), []);
    assert.deepEqual(orphans(db, "messages_trigram", '"旧的天"'), []);
    assert.deepEqual(orphans(db, "messages_bigram", '"天气"'), []);
    checkIndexes(db);
    assert.deepEqual(
      (await store.listSessions({ includeEnded: true })).map((s) => s.id).sort(),
      [recentEnded.id, open.id].sort(),
    );
    assert.equal((await store.history(open.id)).length, 2);
    assert.deepEqual(await store.pruneSessions(cutoff), { sessions: 0, messages: 0 });
  } finally {
    store.close();
  }
});

Deno.test("pruneSessions() goes batch by batch through a session longer than a batch", async () => {
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const { db, store } = openStore(`${dir.path}/state.db`, clock);
  try {
    let session: SessionRecord | undefined;
    for (let i = 0; i < 300; i++) session = await converse(store, clock, "alice", `note ${i}`);
    await store.endSession(session!.id, "idle");
    await converse(store, clock, "bob", "newer"); // the newest session always stays
    const commits = store.commits;
    clock.now = new Date("2026-06-01T10:00:00Z");
    assert.deepEqual(await store.pruneSessions(new Date("2026-03-01T00:00:00Z")), {
      sessions: 1,
      messages: 600,
    });
    assert.ok(store.commits - commits >= 3, "600 messages in small units");
    assert.deepEqual(await store.search("note"), []);
    checkIndexes(db);
  } finally {
    store.close();
  }
});

Deno.test("after the newest messages were pruned, the next message is still indexed", async () => {
  // SQLite gives a new message the id after the highest one left: a watermark left above it
  // would take the new message for indexed, and search would never find it.
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const { db, store } = openStore(`${dir.path}/state.db`, clock);
  try {
    await converse(store, clock, "alice", "old words");
    await converse(store, clock, "bob", "kept words"); // the newest session, which stays
    const old = await converse(store, clock, "alice", "last words"); // the newest messages
    await store.endSession(old.id, "idle");
    await store.search("old"); // indexed through the last message
    clock.now = new Date("2026-06-01T10:00:00Z");
    assert.deepEqual(await store.pruneSessions(new Date("2026-03-01T00:00:00Z")), {
      sessions: 1,
      messages: 4,
    });
    await converse(store, clock, "bob", "fresh words");
    assert.deepEqual((await store.search("fresh")).map((hit) => hit.text).sort(), [
      "fresh words",
      "re: fresh words",
    ]);
    checkIndexes(db);
  } finally {
    store.close();
  }
});

Deno.test("the newest session stays however old, so that no session id is given twice", async () => {
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const { store } = openStore(`${dir.path}/state.db`, clock);
  try {
    const first = await converse(store, clock, "alice", "one");
    await store.endSession(first.id, "idle");
    const last = await converse(store, clock, "bob", "two");
    await store.endSession(last.id, "idle");
    clock.now = new Date("2026-06-01T10:00:00Z");
    const cutoff = new Date("2026-03-01T00:00:00Z");
    assert.deepEqual((await store.expiredSessions(cutoff)).sessions.map((s) => s.id), [first.id]);
    assert.deepEqual(await store.pruneSessions(cutoff), { sessions: 1, messages: 2 });
    const next = await converse(store, clock, "carol", "three");
    assert.ok(next.id > last.id, `${next.id} after ${last.id}`);
  } finally {
    store.close();
  }
});

Deno.test("a message pruned before the indexer reached it leaves the indexes consistent", async () => {
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const { db, store } = openStore(`${dir.path}/state.db`, clock);
  try {
    const old = await converse(store, clock, "alice", "never indexed");
    await store.endSession(old.id, "idle");
    await converse(store, clock, "bob", "kept words");
    // The indexer waits 200 ms; the prune comes first (the watermark is still 0).
    assert.equal((await store.searchLag()).messages, 4);
    await store.pruneSessions(new Date("2026-01-02T00:00:00Z"));
    assert.deepEqual((await store.search("words")).map((hit) => hit.text).sort(), [
      "kept words",
      "re: kept words",
    ]);
    assert.deepEqual(await store.search("indexed"), []);
    assert.deepEqual(await store.searchLag(), { messages: 0 });
    checkIndexes(db);
  } finally {
    store.close();
  }
});

Deno.test("prune() removes finished journal entries, reply parts and ledger rows past the cutoff, in batches, and keeps recent and unfinished ones", async () => {
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const { db, store } = openStore(`${dir.path}/state.db`, clock);
  try {
    for (let i = 0; i < 300; i++) await converse(store, clock, `u${i % 3}`, `old ${i}`);
    for (const part of await store.openParts()) {
      await store.startSending(part.id);
      await store.partSent(part.id, `p-${part.id}`);
      await store.recordPart(part.idempotencyKey, {
        platform: "test",
        chat: part.chatKey,
        state: "sent",
        messageId: `p-${part.id}`,
        text: part.text,
      });
    }
    const unfinished = (await store.acceptInbound({
      messageId: "waiting",
      source: { platform: "test", chatType: "dm", chatId: "u0", userId: "u0" },
      text: "still waiting",
      receivedAt: clock.now.toISOString(),
    }, "k-u0"))!;
    clock.now = new Date("2026-01-20T10:00:00Z");
    const recent = await converse(store, clock, "u1", "recent");
    const cutoff = new Date("2026-01-13T10:00:00Z");

    assert.deepEqual(await store.prunable(cutoff), { journal: 300, ledger: 300, outbox: 300 });
    const commits = store.commits;
    assert.deepEqual(await store.prune(cutoff), { journal: 300, ledger: 300, outbox: 300 });
    assert.ok(store.commits - commits >= 2, "in units of at most 256 rows of each");
    const left = db
      .prepare(
        "SELECT json_extract(event, '$.messageId') AS message_id FROM inbound_journal ORDER BY id",
      )
      .all()
      .map((row) => row.message_id);
    assert.deepEqual(left, ["waiting", `m-${nextId - 1}`]);
    assert.deepEqual(await store.partsOf(unfinished.id), []);
    assert.equal((await store.partsOf((await store.unfinishedInbound())[0]!.id)).length, 0);
    assert.equal(
      (db.prepare("SELECT count(*) AS n FROM outbox").get() as { n: number }).n,
      1,
      "the recent reply's part stays",
    );
    assert.equal(
      (await store.listSessions()).find((s) => s.id === recent.id)!.message_count,
      202,
      "transcripts are not touched",
    );
    assert.deepEqual(await store.prunable(cutoff), { journal: 0, ledger: 0, outbox: 0 });
  } finally {
    store.close();
  }
});

Deno.test("a prune stops between two batches when aborted; what it pruned stays pruned", async () => {
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const { store } = openStore(`${dir.path}/state.db`, clock);
  try {
    let session: SessionRecord | undefined;
    for (let i = 0; i < 300; i++) session = await converse(store, clock, "alice", `note ${i}`);
    await store.endSession(session!.id, "idle");
    await converse(store, clock, "bob", "newer");
    const controller = new AbortController();
    const pruning = store.pruneSessions(new Date("2026-01-02T00:00:00Z"), {
      signal: controller.signal,
    });
    controller.abort(); // after the first batch was asked for
    const pruned = await pruning;
    assert.equal(pruned.sessions, 0);
    assert.ok(pruned.messages > 0 && pruned.messages < 600, `${pruned.messages} of 600`);
    assert.equal(
      (await store.history(session!.id, { limit: 1000 })).length,
      600 - pruned.messages,
    );
  } finally {
    store.close();
  }
});

Deno.test("prune() also removes old entries a drain cut off, but keeps an entry whose reply still has a part to deliver", async () => {
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const { db, store } = openStore(`${dir.path}/state.db`, clock);
  try {
    await converse(store, clock, "waits", "a reply that waits for its chat"); // its part stays queued
    const cut = (await store.acceptInbound({
      messageId: `m-${nextId++}`,
      source: { platform: "test", chatType: "dm", chatId: "cut", userId: "cut" },
      text: "cut off by a drain",
      receivedAt: clock.now.toISOString(),
    }, "k-cut"))!;
    await store.markInterrupted([cut.id]);
    clock.now = new Date("2026-01-20T10:00:00Z");
    await converse(store, clock, "recent", "recent");
    const cutoff = new Date("2026-01-13T10:00:00Z");
    assert.equal((await store.prunable(cutoff)).journal, 1);
    await store.prune(cutoff);
    const left = db.prepare("SELECT json_extract(event, '$.text') AS text FROM inbound_journal")
      .all().map((row) => row.text);
    assert.ok(left.includes("a reply that waits for its chat"), "its part still needs it");
    assert.ok(!left.includes("cut off by a drain"), "a week-old cut-off turn is not resumed");
    const part = (await store.openParts()).find((p) =>
      p.text === "re: a reply that waits for its chat"
    );
    assert.ok(part, "the part is still to be delivered");
  } finally {
    store.close();
  }
});

Deno.test("while replies are being written, a prune takes at most a few units of work a second, and goes at full speed once they stop", async () => {
  await using dir = tempDir();
  const clock = { now: new Date("2026-01-01T10:00:00Z") };
  const { db, store } = openStore(`${dir.path}/state.db`, clock);
  try {
    let session: SessionRecord | undefined;
    for (let i = 0; i < 400; i++) session = await converse(store, clock, "alice", `note ${i}`);
    await store.endSession(session!.id, "idle");
    await converse(store, clock, "bob", "newer"); // the newest session is never pruned
    const left = () =>
      (db.prepare("SELECT count(*) AS n FROM messages WHERE session_id = ?").get(session!.id) as {
        n: number;
      }).n;
    let busy = true;
    const replies = (async () => {
      while (busy) await converse(store, clock, "bob", "a reply meanwhile");
    })();
    const pruning = store.pruneSessions(new Date("2026-01-02T00:00:00Z"));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const prunedWhileBusy = 800 - left();
    busy = false;
    await replies;
    const pruned = await pruning;
    // 32 messages a unit, one at once and then one every 250 ms at most while replies come
    // (with room for a late timer; without the pacing, about 20 units go in that second).
    assert.ok(prunedWhileBusy <= 8 * 32, `${prunedWhileBusy} of 800 pruned in a busy second`);
    assert.deepEqual(pruned, { sessions: 1, messages: 800 }, "and the rest once they stopped");
  } finally {
    store.close();
  }
});
