import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openSqliteStateStore } from "../../../lib/storage/sqlite/state_store.ts";
import { tempDir } from "../../_helpers.ts";

const STORE = new URL("../../../lib/storage/sqlite/state_store.ts", import.meta.url).href;

/** A gateway's store under load: messages stored as fast as it goes, the indexer behind them. */
const WRITER = `
import { openSqliteStateStore } from "${STORE}";
const store = openSqliteStateStore(Deno.args[0]);
const source = { platform: "local", chatType: "dm", chatId: "ada", userId: "ada" };
for (let i = 0; ; i++) {
  const text = "今天天气很好 weather report number " + i;
  const entry = await store.acceptInbound(
    { messageId: "m" + i, source, text, receivedAt: new Date().toISOString() },
    "agent:main:local:dm:ada",
  );
  await store.beginTurn(entry, { expired: () => undefined, text });
  if (i === 200) console.log("storing");
}
`;

Deno.test("kill -9 while messages are stored and indexed: after a restart each is found exactly once", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  Deno.writeTextFileSync(`${dir.path}/writer.ts`, WRITER);
  const writer = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${dir.path}/writer.ts`, path],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = writer.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assert.match((await reader.read()).value ?? "", /storing/);
  // Past several indexer runs (one every 200 ms), at a moment nobody picks.
  await new Promise((resolve) => setTimeout(resolve, 700 + Math.random() * 800));
  writer.kill("SIGKILL");
  assert.equal((await writer.status).signal, "SIGKILL");
  await reader.cancel();

  const store = openSqliteStateStore(path);
  const stored = await store.listSessions().then(([s]) => s!.message_count);
  assert.ok(stored > 200, `${stored} messages stored before the kill`);
  // A search indexes what waits first; then every message is in every index once.
  const words = await store.search("weather", { limit: 1_000_000 });
  const pairs = await store.search("天气", { limit: 1_000_000 });
  const trigrams = await store.search("天气很", { limit: 1_000_000 });
  for (
    const [index, hits] of [["words", words], ["pairs", pairs], ["trigrams", trigrams]] as const
  ) {
    assert.equal(hits.length, stored, `${index}: one hit per message`);
    assert.equal(new Set(hits.map((h) => h.id)).size, stored, `${index}: none twice`);
  }
  assert.deepEqual(await store.searchLag(), { messages: 0 });
  store.close();
  // FTS5's own check: the content-backed indexes hold exactly the stored texts.
  using db = new DatabaseSync(path);
  for (const table of ["messages_words", "messages_trigram"]) {
    db.exec(`INSERT INTO ${table} (${table}) VALUES ('integrity-check')`);
  }
});
