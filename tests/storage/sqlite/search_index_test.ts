import assert from "node:assert/strict";
import { openDatabase, transaction } from "../../../lib/storage/sqlite/database.ts";
import { STATE_MIGRATIONS } from "../../../lib/storage/sqlite/migrations.ts";
import { SearchIndex } from "../../../lib/storage/sqlite/search_index.ts";
import { SessionStore } from "../../../lib/storage/sqlite/sessions.ts";
import { openSqliteStateStore } from "../../../lib/storage/sqlite/state_store.ts";
import { TranscriptStore } from "../../../lib/storage/sqlite/transcripts.ts";
import type { SessionSource } from "../../../lib/platforms/event.ts";
import { tempDir } from "../../_helpers.ts";

const source: SessionSource = { platform: "local", chatType: "dm", chatId: "ada", userId: "ada" };

/** Stores `texts` the way a gateway killed before its indexer ran leaves them. */
function storeUnindexed(path: string, texts: readonly string[]): void {
  using db = openDatabase(path, STATE_MIGRATIONS);
  const session = new SessionStore(db).open("agent:main:local:dm:ada", source);
  const transcripts = new TranscriptStore(db);
  for (const text of texts) {
    transcripts.append({ sessionId: session.id, platform: "local", role: "user", text });
  }
}

/** Searches `query` as `hermes sessions search` does: read-only, indexing nothing itself. */
async function searchReadOnly(path: string, query: string) {
  using reader = openSqliteStateStore(path, { readOnly: true });
  return { hits: await reader.search(query), lag: await reader.searchLag() };
}

Deno.test("a message a gateway stores is searchable by a reader within 2 s, with nobody searching in the gateway", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  using store = openSqliteStateStore(path);
  const entry = await store.acceptInbound({
    messageId: "m1",
    source,
    text: "the quarterly weather report",
    receivedAt: new Date().toISOString(),
  }, "agent:main:local:dm:ada");
  await store.beginTurn(entry!, { expired: () => undefined, text: "the quarterly weather report" });
  const stored = Date.now();
  let found = await searchReadOnly(path, "quarterly");
  while (found.hits.length === 0 && Date.now() - stored < 2_000) {
    assert.ok(found.lag.messages <= 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    found = await searchReadOnly(path, "quarterly");
  }
  assert.deepEqual(found.hits.map((h) => h.text), ["the quarterly weather report"]);
  assert.deepEqual(found.lag, { messages: 0 });
});

Deno.test("what a killed gateway left unindexed is indexed when the store opens again, each message once", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  storeUnindexed(path, ["今天天气很好", "deploy the server", "deploy again"]);
  const left = await searchReadOnly(path, "deploy");
  assert.deepEqual(left.hits, []);
  assert.equal(left.lag.messages, 3);
  assert.ok(left.lag.since);

  using store = openSqliteStateStore(path);
  const opened = Date.now();
  while ((await searchReadOnly(path, "deploy")).lag.messages > 0 && Date.now() - opened < 2_000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const after = await searchReadOnly(path, "deploy");
  assert.equal(after.hits.length, 2);
  assert.deepEqual((await searchReadOnly(path, "天气")).hits.map((h) => h.text), ["今天天气很好"]);
  assert.deepEqual((await store.search("deploy")).map((h) => h.text).sort(), [
    "deploy again",
    "deploy the server",
  ]);
});

Deno.test("an indexing transaction that fails leaves the watermark and the indexes as they were", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  storeUnindexed(path, ["alpha one", "alpha two"]);
  using db = openDatabase(path, STATE_MIGRATIONS);
  const index = new SearchIndex(db);
  assert.throws(() =>
    transaction(db, () => {
      index.catchUp(10);
      throw new Error("the disk filled up");
    })
  );
  assert.equal(index.lag().messages, 2);
  assert.equal(transaction(db, () => index.catchUp(1)), 1, "a batch stops at its limit");
  assert.equal(transaction(db, () => index.catchUp(10)), 1);
  assert.equal(transaction(db, () => index.catchUp(10)), 0);
  assert.deepEqual(index.lag(), { messages: 0 });
  const hits = new TranscriptStore(db).search("alpha");
  assert.deepEqual(hits.map((h) => h.text).sort(), ["alpha one", "alpha two"], "each once");
});

Deno.test("a database from before background indexing keeps every message it had searchable", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  const old = STATE_MIGRATIONS.filter((m) => m.version <= 6);
  {
    using db = openDatabase(path, old);
    const session = new SessionStore(db).open("agent:main:local:dm:ada", source);
    db.prepare(
      "INSERT INTO messages (session_id, platform, role, text, created_at, kind) VALUES (?, 'local', 'user', ?, ?, 'chat')",
    ).run(session.id, "an old deployment note", new Date().toISOString());
    // Schema 6 indexed as it stored.
    db.exec("INSERT INTO messages_words (rowid, text) SELECT id, text FROM messages");
  }
  // A reader never migrates: it refuses another schema, naming what to restart.
  await assert.rejects(searchReadOnly(path, "deployment"), /restart the gateway with this version/);
  using store = openSqliteStateStore(path); // migrates to 7: the old message counts as indexed
  assert.deepEqual(await store.searchLag(), { messages: 0 });
  assert.equal((await store.search("deployment")).length, 1, "indexed once, not twice");
});
