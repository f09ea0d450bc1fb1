import assert from "node:assert/strict";
import { openDatabase } from "../../../lib/storage/sqlite/database.ts";
import { STATE_MIGRATIONS } from "../../../lib/storage/sqlite/migrations.ts";
import { chatKeyOf } from "../../../lib/storage/state_store.ts";
import { tempDir } from "../../_helpers.ts";

Deno.test("an older state.db keeps its waiting parts and reply contexts under the new chat keys", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  {
    using db = openDatabase(path, STATE_MIGRATIONS.filter((m) => m.version <= 5));
    db.exec(`INSERT INTO inbound_journal (platform, message_id, session_key, event, state,
      received_at, attempts) VALUES ('wecom', 'm1', 'k', '{}', 'done', '2026-01-01', 1)`);
    const old = (type: string, id: string) => JSON.stringify(["wecom", type, id, ""]);
    db.prepare(
      `INSERT INTO outbox (inbound_id, part, platform, chat_key, target, text, format,
        idempotency_key, state, attempts, waiting_for_inbound, deadline, created_at, updated_at)
       VALUES (1, 0, 'wecom', ?, '{}', 'hi', 'plain', 'inbound:1#0', 'deferred', 1, 1,
        '2027-01-01', '2026-01-01', '2026-01-01')`,
    ).run(old("group", "g1"));
    const context = db.prepare(
      "INSERT INTO chat_contexts (chat_key, reply_context, updated_at) VALUES (?, ?, ?)",
    );
    context.run(old("dm", "g1"), '"older"', "2026-01-01T00:00:00Z");
    context.run(old("group", "g1"), '"newer"', "2026-01-02T00:00:00Z");
  }
  using db = openDatabase(path, STATE_MIGRATIONS);
  const key = chatKeyOf({ platform: "wecom", chatType: "group", chatId: "g1" });
  const part = db.prepare("SELECT chat_key, state FROM outbox").get();
  assert.deepEqual({ ...part }, { chat_key: key, state: "deferred" });
  const contexts = db.prepare("SELECT chat_key, reply_context FROM chat_contexts").all();
  assert.deepEqual(contexts.map((row) => ({ ...row })), [{
    chat_key: key,
    reply_context: '"newer"',
  }]);
});
