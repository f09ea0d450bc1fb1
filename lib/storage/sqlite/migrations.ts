/**
 * The schema of `state.db`, as migrations. Append new versions; never edit a
 * released one.
 *
 * @module
 */

import type { Migration } from "./database.ts";

/** The migrations of state.db, oldest first. */
export const STATE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "sessions and searchable transcripts",
    sql: `
      CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        platform TEXT NOT NULL,
        chat_type TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        thread_id TEXT,
        user_id TEXT,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        ended_at TEXT,
        end_reason TEXT
      );
      -- One open session per key; ended ones stay for their transcripts.
      CREATE UNIQUE INDEX sessions_open_key ON sessions(key) WHERE ended_at IS NULL;
      CREATE INDEX sessions_by_update ON sessions(updated_at);

      CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        platform TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
        sender TEXT,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX messages_by_session ON messages(session_id, id);

      -- Words (English and other space-separated languages), ranked by bm25.
      CREATE VIRTUAL TABLE messages_words USING fts5(
        text, content = 'messages', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
      );
      -- Any substring of 3+ characters, CJK included.
      CREATE VIRTUAL TABLE messages_trigram USING fts5(
        text, content = 'messages', content_rowid = 'id', tokenize = 'trigram'
      );
      -- Two-character CJK words: each run of CJK text as overlapping pairs.
      CREATE VIRTUAL TABLE messages_bigram USING fts5(
        grams, content = '', contentless_delete = 1, tokenize = 'unicode61'
      );
    `,
  },
  {
    version: 2,
    name: "inbound journal and outbound ledger",
    sql: `
      -- Every accepted platform message, durable before anything else happens.
      CREATE TABLE inbound_journal (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        message_id TEXT NOT NULL,
        session_key TEXT NOT NULL,
        event TEXT NOT NULL,
        received_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
          CHECK (state IN ('pending', 'interrupted', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        transcript_id INTEGER,
        outcome TEXT,
        finished_at TEXT,
        UNIQUE (platform, message_id)
      );
      CREATE INDEX inbound_by_session_state ON inbound_journal(session_key, state);
      CREATE INDEX inbound_by_state ON inbound_journal(state);
      CREATE INDEX inbound_by_time ON inbound_journal(received_at);

      -- One row per reply message: a restart never sends a delivered one twice.
      CREATE TABLE outbound_ledger (
        idempotency_key TEXT PRIMARY KEY,
        platform TEXT NOT NULL,
        chat TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('sending', 'sent')),
        platform_message_id TEXT,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX outbound_by_time ON outbound_ledger(updated_at);
    `,
  },
  {
    version: 3,
    name: "slash-command exchanges in transcripts; chats' shared history",
    sql: `
      -- Shown to people, never to the agent: 'command' (a slash command or its
      -- answer), 'note' (what the gateway said instead of a reply, e.g. why the
      -- agent could not answer).
      ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat'
        CHECK (kind IN ('chat', 'command', 'note'));
      -- A group room's history gathers every member's session.
      CREATE INDEX sessions_by_chat ON sessions(platform, chat_type, chat_id);
    `,
  },
  {
    version: 4,
    name: "the outbox: every final reply part is a row before it is sent",
    sql: `
      CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        inbound_id INTEGER NOT NULL,
        part INTEGER NOT NULL,
        platform TEXT NOT NULL,
        -- One chat's parts go out in order: platform, chat type, chat id, thread.
        chat_key TEXT NOT NULL,
        target TEXT NOT NULL,
        reply_to TEXT,
        text TEXT NOT NULL,
        format TEXT NOT NULL DEFAULT 'plain',
        idempotency_key TEXT NOT NULL UNIQUE,
        -- The preview this part replaces (edited into the final text).
        edit_of TEXT,
        state TEXT NOT NULL CHECK (state IN
          ('queued', 'sending', 'sent', 'deferred', 'failed', 'undeliverable')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT,
        waiting_for_inbound INTEGER NOT NULL DEFAULT 0,
        deadline TEXT NOT NULL,
        platform_message_id TEXT,
        last_code TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX outbox_by_state ON outbox(state);
      CREATE INDEX outbox_by_chat ON outbox(chat_key, state, id);
      CREATE INDEX outbox_by_inbound ON outbox(inbound_id);
      CREATE INDEX outbox_by_time ON outbox(updated_at);

      -- The newest reply context each chat's inbound messages carried.
      CREATE TABLE chat_contexts (
        chat_key TEXT PRIMARY KEY,
        reply_context TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: "files that came with messages",
    sql: `
      -- JSON arrays of attachments (kind, mime, name, size, path), or NULL.
      ALTER TABLE messages ADD COLUMN attachments TEXT;
      ALTER TABLE outbox ADD COLUMN attachments TEXT;
      -- What the preview a part replaces shows (so a platform can skip an edit that changes nothing).
      ALTER TABLE outbox ADD COLUMN shown_text TEXT;
    `,
  },
  {
    version: 6,
    name: "chat keys without the chat type",
    sql: `
      -- [platform, chatType, chatId, threadId] becomes [platform, chatId, threadId].
      UPDATE outbox SET chat_key = json_array(
        json_extract(chat_key, '$[0]'), json_extract(chat_key, '$[2]'), json_extract(chat_key, '$[3]'))
        WHERE json_array_length(chat_key) = 4;
      CREATE TABLE chat_contexts_v6 (
        chat_key TEXT PRIMARY KEY,
        reply_context TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      -- Where two types shared an id, the newest context wins.
      INSERT OR REPLACE INTO chat_contexts_v6 (chat_key, reply_context, updated_at)
        SELECT CASE WHEN json_array_length(chat_key) = 4 THEN json_array(
            json_extract(chat_key, '$[0]'), json_extract(chat_key, '$[2]'), json_extract(chat_key, '$[3]'))
          ELSE chat_key END, reply_context, updated_at
        FROM chat_contexts ORDER BY updated_at;
      DROP TABLE chat_contexts;
      ALTER TABLE chat_contexts_v6 RENAME TO chat_contexts;
    `,
  },
  {
    version: 7,
    name: "search indexed in the background",
    sql: `
      -- Messages up to this id are in the three search indexes; newer ones wait for the indexer.
      CREATE TABLE search_progress (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        indexed_through INTEGER NOT NULL
      );
      INSERT INTO search_progress (id, indexed_through) SELECT 1, COALESCE(MAX(id), 0) FROM messages;
    `,
  },
  {
    version: 8,
    name: "message counts kept, not counted",
    sql: `
      -- A session's count of messages, kept by triggers (it was counted on every lookup).
      ALTER TABLE sessions ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
      UPDATE sessions SET message_count = (SELECT count(*) FROM messages m WHERE m.session_id = sessions.id);
      CREATE TRIGGER messages_counted AFTER INSERT ON messages BEGIN
        UPDATE sessions SET message_count = message_count + 1 WHERE id = NEW.session_id;
      END;
      CREATE TRIGGER messages_uncounted AFTER DELETE ON messages BEGIN
        UPDATE sessions SET message_count = message_count - 1 WHERE id = OLD.session_id;
      END;
    `,
  },
  {
    version: 9,
    name: "first tries counted with the reply",
    sql: `
      -- The gateway run (a random id per open) whose completed turn counted this part's first
      -- try in the same transaction: that run sends it without counting the try again.
      ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    `,
  },
  {
    version: 10,
    name: "outbox and journal indexes that hold only what is not finished",
    sql: `
      -- The chat's oldest open part, found without walking its sent history; the index
      -- holds the open parts only, so it stays small however long the chat.
      DROP INDEX outbox_by_chat;
      CREATE INDEX outbox_open_by_chat ON outbox(chat_key, id)
        WHERE state IN ('queued', 'sending', 'deferred', 'failed');
      -- The counts leave sent parts out, so the index does too.
      DROP INDEX outbox_by_state;
      CREATE INDEX outbox_unsent_by_state ON outbox(state) WHERE state <> 'sent';
      -- A reply's parts in order, without a sort.
      DROP INDEX outbox_by_inbound;
      CREATE INDEX outbox_by_inbound ON outbox(inbound_id, part);
      -- Pruning goes by when a part was written, which never changes: an index on the time of
      -- its last change was rewritten by every try and every send.
      DROP INDEX outbox_by_time;
      CREATE INDEX outbox_by_creation ON outbox(created_at);
      -- The journal is looked up by state only for what a crash or a drain left unfinished.
      DROP INDEX inbound_by_session_state;
      DROP INDEX inbound_by_state;
      CREATE INDEX inbound_pending ON inbound_journal(id) WHERE state = 'pending';
      CREATE INDEX inbound_interrupted ON inbound_journal(session_key, id)
        WHERE state = 'interrupted';
    `,
  },
  {
    version: 11,
    name: "session keys and journal dedup ids that cannot collide",
    sql: `
      -- agent:main:p:t:c[:thread][:user] (':' as %3A, '%' left as it was) becomes
      -- agent:main:p:t:c[:thread:T][:user:U] ('%' as %25, ':' as %3A). Whether a key held
      -- its user is read off the old key; a key of neither shape is left as it was.
      -- The index goes while keys change: a new key may equal another row's old one.
      DROP INDEX sessions_open_key;
      UPDATE sessions SET key = ${
      rekey("key", {
        platform: "platform",
        chatType: "chat_type",
        chatId: "chat_id",
        threadId: "thread_id",
        userId: "user_id",
      })
    };
      CREATE UNIQUE INDEX sessions_open_key ON sessions(key) WHERE ended_at IS NULL;
      UPDATE inbound_journal SET session_key = ${
      rekey("session_key", {
        platform: "json_extract(event, '$.source.platform')",
        chatType: "json_extract(event, '$.source.chatType')",
        chatId: "json_extract(event, '$.source.chatId')",
        threadId: "json_extract(event, '$.source.threadId')",
        userId: "json_extract(event, '$.source.userId')",
      })
    };
      -- A platform's message ids become {chat_type}:{chat_id}:{id}[#edit:digest], each part
      -- with '%' as %25 and ':' as %3A (journal.ts dedupId); operators' (send:...) stay. The
      -- char(1) stage keeps a new id from meeting another row's old one on the unique index.
      UPDATE inbound_journal SET message_id = char(1)
          || ${escaped("json_extract(event, '$.source.chatType')")} || ':'
          || ${escaped("json_extract(event, '$.source.chatId')")} || ':'
          || ${escaped("json_extract(event, '$.messageId')")}
          || CASE WHEN json_extract(event, '$.kind') = 'edit'
            THEN substr(message_id, length(json_extract(event, '$.messageId')) + 1) ELSE '' END
        WHERE substr(message_id, 1, 5) <> 'send:'
          AND json_extract(event, '$.source.chatType') IS NOT NULL
          AND json_extract(event, '$.source.chatId') IS NOT NULL
          AND json_extract(event, '$.messageId') IS NOT NULL;
      UPDATE inbound_journal SET message_id = substr(message_id, 2)
        WHERE substr(message_id, 1, 1) = char(1);
    `,
  },
  {
    version: 12,
    name: "retention: ended sessions found by age, the sweep's walk, maintenance runs",
    sql: `
      -- The prune finds sessions ended before the retention without walking the open ones.
      CREATE INDEX sessions_ended ON sessions(ended_at) WHERE ended_at IS NOT NULL;
      -- The reset sweep walks every open session in pages, by id.
      CREATE INDEX sessions_open ON sessions(id) WHERE ended_at IS NULL;
      -- When each maintenance task last ran, so that a restart does not run it again.
      CREATE TABLE maintenance_runs (
        task TEXT PRIMARY KEY,
        last_run_at TEXT NOT NULL
      );
    `,
  },
];

/** Where a table keeps the parts of a session's source. */
interface SourceColumns {
  readonly platform: string;
  readonly chatType: string;
  readonly chatId: string;
  readonly threadId: string;
  readonly userId: string;
}

/** SQL for the schema 11 key of a row whose schema 10 key is in column `key`. */
function rekey(key: string, c: SourceColumns): string {
  const before = (part: string) => `replace(${part}, ':', '%3A')`;
  const after = escaped;
  const base = (escape: (part: string) => string, threadMark: string) =>
    `('agent:main:' || ${escape(c.platform)} || ':' || ${escape(c.chatType)} || ':' || ${
      escape(c.chatId)
    } || CASE WHEN coalesce(${c.threadId}, '') <> '' THEN '${threadMark}' || ${
      escape(c.threadId)
    } ELSE '' END)`;
  const oldBase = base(before, ":");
  const newBase = base(after, ":thread:");
  return `CASE
        WHEN ${key} = ${oldBase} THEN ${newBase}
        WHEN coalesce(${c.userId}, '') <> '' AND ${key} = ${oldBase} || ':' || ${before(c.userId)}
          THEN ${newBase} || ':user:' || ${after(c.userId)}
        ELSE ${key} END`;
}

/** SQL for `part` with '%' as %25 and ':' as %3A. */
function escaped(part: string): string {
  return `replace(replace(${part}, '%', '%25'), ':', '%3A')`;
}
