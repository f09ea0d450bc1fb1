import assert from "node:assert/strict";
import { openSqliteStateStore } from "../../../lib/storage/sqlite/state_store.ts";
import { tempDir } from "../../_helpers.ts";

const LIB = new URL("../../../lib/storage/sqlite/", import.meta.url).href;
const KEY = "agent:main:local:dm:ada";

/**
 * A gateway's store superseding a queued message, killed (SIGKILL, by
 * itself) at the moment the journal is told the message is finished: after
 * its user message went into the transcript, before anything else.
 */
const SUPERSEDER = `
import { openDatabase } from "${LIB}database.ts";
import { STATE_MIGRATIONS } from "${LIB}migrations.ts";
import { SqliteStateStore } from "${LIB}state_store.ts";
const db = openDatabase(Deno.args[0], STATE_MIGRATIONS);
db.function("die", () => Deno.kill(Deno.pid, "SIGKILL"));
db.exec(\`CREATE TEMP TRIGGER die_when_finished BEFORE UPDATE OF state ON inbound_journal
  WHEN NEW.state = 'done' AND (SELECT count(*) FROM messages) > 0 BEGIN SELECT die(); END\`);
const store = new SqliteStateStore(db);
const source = { platform: "local", chatType: "dm", chatId: "ada", userId: "ada" };
const entry = await store.acceptInbound(
  { messageId: "m1", source, text: "never mind", receivedAt: new Date().toISOString() },
  "${KEY}",
);
await store.supersede(entry, { expired: () => undefined });
console.log("not killed");
`;

Deno.test("kill -9 between a superseded message's transcript row and its journal mark: after a restart it is stored once", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  Deno.writeTextFileSync(`${dir.path}/superseder.ts`, SUPERSEDER);
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${dir.path}/superseder.ts`, path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(run.signal, "SIGKILL", new TextDecoder().decode(run.stderr));
  assert.equal(new TextDecoder().decode(run.stdout), "", "killed inside the unit of work");

  // The next gateway finds the message still to be handled, and handles it again.
  using store = openSqliteStateStore(path);
  const [entry, ...more] = await store.unfinishedInbound();
  assert.equal(more.length, 0);
  assert.equal(entry?.event.text, "never mind");
  const sessionsLeft = await store.sessionsOfKey(KEY);
  const session = await store.supersede(entry, { expired: () => undefined });
  assert.deepEqual(
    (await store.history(session.id)).map((m) => m.text),
    ["never mind"],
    "in the transcript once",
  );
  assert.deepEqual(await store.unfinishedInbound(), []);
  // Nothing of the killed unit was kept: no half of it for a second pass to repeat.
  assert.equal(entry.transcriptId, null, "no transcript row was kept without the journal mark");
  assert.deepEqual(sessionsLeft, [], "nor a session opened for it");
});
