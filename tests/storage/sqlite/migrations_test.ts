import assert from "node:assert/strict";
import { openDatabase } from "../../../lib/storage/sqlite/database.ts";
import { STATE_MIGRATIONS } from "../../../lib/storage/sqlite/migrations.ts";
import { chatKeyOf } from "../../../lib/storage/state_store.ts";
import { createHash } from "node:crypto";
import { dedupId, InboundJournal } from "../../../lib/storage/sqlite/journal.ts";
import { openSqliteStateStore } from "../../../lib/storage/sqlite/state_store.ts";
import { sessionKey } from "../../../lib/sessions/key.ts";
import type { MessageEvent, SessionSource } from "../../../lib/platforms/event.ts";
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

/** The session key of schema 10 and before, as lib/sessions/key.ts built it then. */
function schema10Key(source: SessionSource, perUser = true): string {
  const parts = ["agent", "main", source.platform, source.chatType, source.chatId];
  if (source.threadId) parts.push(source.threadId);
  if (source.chatType !== "dm" && perUser && source.userId) parts.push(source.userId);
  return parts.map((part) => part.replaceAll(":", "%3A")).join(":");
}

Deno.test("a schema 10 state.db finds its sessions and interrupted turns under the new session keys", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  const group = (chatId: string, more: Partial<SessionSource> = {}): SessionSource => ({
    platform: "wecom",
    chatType: "group",
    chatId,
    ...more,
  });
  const cases: { source: SessionSource; perUser: boolean }[] = [
    { source: group("a:b", { userId: "c" }), perUser: true },
    { source: group("a", { threadId: "b", userId: "c" }), perUser: true },
    { source: group("g", { threadId: "t" }), perUser: true },
    { source: group("g2", { userId: "u" }), perUser: false },
    {
      source: { platform: "weixin", chatType: "dm", chatId: "wx%id", userId: "wx%id" },
      perUser: true,
    },
    {
      source: { platform: "local", chatType: "dm", chatId: "alice", userId: "alice" },
      perUser: true,
    },
  ];
  const ids: number[] = [];
  {
    using db = openDatabase(path, STATE_MIGRATIONS.filter((m) => m.version <= 10));
    const insert = db.prepare(
      `INSERT INTO sessions (key, platform, chat_type, chat_id, thread_id, user_id, started_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
    );
    for (const { source, perUser } of cases) {
      const { platform, chatType, chatId, threadId, userId } = source;
      ids.push(Number(
        insert.run(
          schema10Key(source, perUser),
          platform,
          chatType,
          chatId,
          threadId ?? null,
          userId ?? null,
        )
          .lastInsertRowid,
      ));
    }
    const cut: MessageEvent = {
      messageId: "m1",
      source: cases[1]!.source,
      text: "cut off by a drain",
      receivedAt: "2026-01-01T00:00:00Z",
    };
    db.prepare(
      `INSERT INTO inbound_journal (platform, message_id, session_key, event, received_at, state)
       VALUES ('wecom', 'm1', ?, ?, ?, 'interrupted')`,
    ).run(schema10Key(cut.source), JSON.stringify(cut), cut.receivedAt);
  }

  const store = openSqliteStateStore(path);
  try {
    for (const [i, { source, perUser }] of cases.entries()) {
      const key = sessionKey(source, { groupSessionsPerUser: perUser });
      assert.equal((await store.findOpenSession(key))?.id, ids[i], key);
    }
    // The chat's next message goes on in the same session.
    const next: MessageEvent = {
      messageId: "m2",
      source: cases[0]!.source,
      text: "and another thing",
      receivedAt: "2026-01-02T00:00:00Z",
    };
    const entry = await store.acceptInbound(next, sessionKey(next.source));
    assert.ok(entry);
    const session = await store.beginTurn(entry, { expired: () => undefined, text: next.text });
    assert.equal(session.id, ids[0]);
    const interrupted = await store.interruptedInbound(sessionKey(cases[1]!.source));
    assert.deepEqual(interrupted.map((e) => e.event.messageId), ["m1"]);
  } finally {
    store.close();
  }
});

Deno.test("messages journaled by a schema 10 state.db are still repeats when they come again", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  const source: SessionSource = { platform: "telegram", chatType: "group", chatId: "-100:1" };
  const plain: MessageEvent = {
    messageId: "-100:5",
    source,
    text: "hi",
    receivedAt: "2026-01-01T00:00:00Z",
  };
  const edit: MessageEvent = { ...plain, kind: "edit", text: "hi there" };
  const digest = createHash("sha256").update(edit.text).digest("hex").slice(0, 16);
  {
    using db = openDatabase(path, STATE_MIGRATIONS.filter((m) => m.version <= 10));
    const insert = db.prepare(
      `INSERT INTO inbound_journal (platform, message_id, session_key, event, received_at, state)
       VALUES (?, ?, 'k', ?, '2026-01-01T00:00:00Z', 'done')`,
    );
    // The ids schema 10 journaled: the platform's id, an edit's with its digest.
    insert.run("telegram", plain.messageId, JSON.stringify(plain));
    insert.run("telegram", `${edit.messageId}#edit:${digest}`, JSON.stringify(edit));
    insert.run("telegram", "send:1", JSON.stringify({ ...plain, messageId: "send:1" }));
  }
  using db = openDatabase(path, STATE_MIGRATIONS);
  const journal = new InboundJournal(db);
  assert.equal(journal.accept(plain, "k"), undefined);
  assert.equal(journal.accept(edit, "k"), undefined);
  assert.ok(journal.accept({ ...edit, text: "a new edit" }, "k"));
  const ids = db.prepare("SELECT message_id FROM inbound_journal ORDER BY id").all();
  assert.equal(ids[2]!.message_id, "send:1", "an operator's entry keeps its id");
  assert.equal(ids[0]!.message_id, dedupId(plain));
});
