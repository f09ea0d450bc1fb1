/**
 * Transcripts: every message of every session, searchable once the
 * indexer (`search_index.ts`) has reached it. Three FTS5 indexes serve
 * different queries: words (bm25-ranked, for space-separated
 * languages), trigrams (any substring of 3+ characters, CJK included) and
 * CJK character pairs (two-character Chinese, Japanese or Korean words, which
 * trigrams cannot find). Shorter or mixed queries fall back to a scan.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { cached, transaction } from "./database.ts";
import { cjkBigrams, hasCjk } from "../_cjk.ts";
import { highlight } from "../_highlight.ts";
import type { Attachment } from "../../platforms/event.ts";
import type {
  Audience,
  ChatMessage,
  MessageKind,
  Role,
  SearchHit,
  SearchOptions,
  StoredMessage,
} from "../state_store.ts";

/** A message to store. */
export interface NewMessage {
  readonly sessionId: number;
  readonly platform: string;
  readonly role: Role;
  readonly text: string;
  readonly sender?: string;
  readonly at?: Date;
  /** Default `chat`. */
  readonly kind?: MessageKind;
  readonly attachments?: readonly Attachment[];
}

const HIT_COLUMNS = "m.*, s.key AS session_key";

/**
 * Appends to and searches transcripts.
 *
 * @example
 * ```ts
 * import type { DatabaseSync } from "node:sqlite";
 * import { transaction } from "./database.ts";
 * import { SearchIndex } from "./search_index.ts";
 * declare const db: DatabaseSync;
 * const transcripts = new TranscriptStore(db);
 * transcripts.append({ sessionId: 1, platform: "local", role: "user", text: "今天天气很好" });
 * transaction(db, () => new SearchIndex(db).catchUp(100));
 * transcripts.search("天气"); // one hit, snippet "今天[天气]很好"
 * ```
 */
export class TranscriptStore {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Stores a message, in one transaction; returns its id. The search indexer adds it later. */
  append(message: NewMessage): number {
    return transaction(this.#db, () => this.appendInTransaction(message));
  }

  /** Like `append`, for callers that already hold a transaction. */
  appendInTransaction(message: NewMessage): number {
    const at = (message.at ?? new Date()).toISOString();
    const { lastInsertRowid } = cached(
      this.#db,
      "INSERT INTO messages (session_id, platform, role, sender, text, created_at, kind, attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    ).run(
      message.sessionId,
      message.platform,
      message.role,
      message.sender ?? null,
      message.text,
      at,
      message.kind ?? "chat",
      message.attachments?.length ? JSON.stringify(message.attachments) : null,
    );
    return Number(lastInsertRowid);
  }

  /**
   * The last `limit` messages of a session, oldest first: for the `agent`
   * (default) the conversation only; for `people` slash commands, their
   * answers and the gateway's notes too.
   */
  history(sessionId: number, limit = 50, options: { audience?: Audience } = {}): StoredMessage[] {
    const rows = cached(
      this.#db,
      options.audience === "people"
        ? "SELECT * FROM messages WHERE session_id = ? ORDER BY id DESC LIMIT ?"
        : "SELECT * FROM messages WHERE session_id = ? AND kind = 'chat' ORDER BY id DESC LIMIT ?",
    ).all(sessionId, limit) as unknown as RawRow<StoredMessage>[];
    return rows.reverse().map(withAttachments);
  }

  /**
   * The last `limit` messages of a chat, oldest first, across all its
   * sessions (every member's in a group, ended sessions too), commands
   * included: a group room's shared history. `session_user` is the user
   * whose session holds the message (whom an answer went to).
   */
  chatHistory(
    chat: { platform: string; chatType: string; chatId: string },
    limit = 200,
  ): ChatMessage[] {
    const rows = cached(
      this.#db,
      `SELECT m.*, s.user_id AS session_user FROM messages m JOIN sessions s ON s.id = m.session_id
       WHERE s.platform = ? AND s.chat_type = ? AND s.chat_id = ? ORDER BY m.id DESC LIMIT ?`,
    ).all(chat.platform, chat.chatType, chat.chatId, limit) as unknown as RawRow<ChatMessage>[];
    return rows.reverse().map(withAttachments);
  }

  /**
   * Finds messages matching every term of `query` (terms are separated by
   * spaces), best first. Words use the word index; terms of 3+ characters
   * the trigram index; a two-character CJK term the pair index; anything
   * else a scan, newest first.
   */
  search(query: string, options: SearchOptions = {}): SearchHit[] {
    const terms = query.trim().split(/\s+/).filter((t) => t !== "");
    if (terms.length === 0) return [];
    const limit = Math.max(1, Math.trunc(options.limit ?? 20));
    const platform = options.platform ?? null;
    const filter = "AND (? IS NULL OR m.platform = ?)";
    const phrase = terms.map((t) => `"${t.replaceAll('"', '""')}"`).join(" ");

    const indexed = (table: string, snippet: string): SearchHit[] =>
      (cached(
        this.#db,
        `SELECT ${HIT_COLUMNS}, ${snippet} AS snippet
         FROM ${table} JOIN messages m ON m.id = ${table}.rowid
         JOIN sessions s ON s.id = m.session_id
         WHERE ${table} MATCH ? ${filter} ORDER BY bm25(${table}) LIMIT ?`,
      ).all(phrase, platform, platform, limit) as unknown as RawRow<SearchHit>[])
        .map(withAttachments);

    if (!terms.some(hasCjk)) {
      return indexed("messages_words", "snippet(messages_words, 0, '[', ']', '…', 12)");
    }
    if (terms.every((t) => [...t].length >= 3)) {
      return indexed("messages_trigram", "snippet(messages_trigram, 0, '[', ']', '…', 12)");
    }
    if (terms.length === 1 && [...terms[0]!].length === 2 && cjkBigrams(terms[0]!) === terms[0]) {
      // A contentless index has no text to cut a snippet from: cut it here.
      return indexed("messages_bigram", "''").map((row) => ({
        ...row,
        snippet: highlight(row.text, terms),
      }));
    }
    const likes = terms.map(() => "m.text LIKE ? ESCAPE '\\'").join(" AND ");
    const patterns = terms.map((t) => `%${t.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    const rows = cached(
      this.#db,
      `SELECT ${HIT_COLUMNS} FROM messages m JOIN sessions s ON s.id = m.session_id
       WHERE ${likes} ${filter} ORDER BY m.id DESC LIMIT ?`,
    ).all(...patterns, platform, platform, limit) as unknown as RawRow<
      Omit<SearchHit, "snippet">
    >[];
    return rows.map((row) => ({
      ...withAttachments(row),
      snippet: highlight(row.text, terms),
    })) as SearchHit[];
  }
}

/** A row as SQLite holds it: attachments as JSON text (or NULL). */
type RawRow<T> = Omit<T, "attachments"> & { attachments: string | null };

function withAttachments<T>(row: RawRow<T>): T {
  return { ...row, attachments: row.attachments ? JSON.parse(row.attachments) : [] } as T;
}
