/**
 * Sessions in state.db: one open session per key; a reset ends it (its
 * transcript stays searchable) and the next message opens a new one.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { cached, transaction } from "./database.ts";
import type { SessionSource } from "../../platforms/event.ts";
import type { SessionRecord } from "../state_store.ts";

/** Before schema 8 (a read-only reader of an older database), the count is counted. */
const SELECT_COUNTING = `
  SELECT s.*, (SELECT count(*) FROM messages m WHERE m.session_id = s.id) AS message_count
  FROM sessions s`;

/**
 * Reads and writes sessions.
 *
 * @example
 * ```ts
 * import type { DatabaseSync } from "node:sqlite";
 * import { sessionKey } from "../../sessions/key.ts";
 * declare const db: DatabaseSync;
 * const source = { platform: "local", chatType: "dm", chatId: "alice", userId: "alice" } as const;
 * const sessions = new SessionStore(db);
 * const session = sessions.open(sessionKey(source), source);
 * ```
 */
export class SessionStore {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;
  /** The start of every query of sessions. */
  readonly #select: string;

  constructor(db: DatabaseSync, now: () => Date = () => new Date()) {
    this.#db = db;
    this.#now = now;
    const kept = db.prepare("SELECT 1 FROM pragma_table_info('sessions') WHERE name = ?")
      .get("message_count");
    this.#select = kept ? "SELECT s.* FROM sessions s" : SELECT_COUNTING;
  }

  /** The open session of `key`, created when there is none. */
  open(key: string, source: SessionSource): SessionRecord {
    return transaction(this.#db, () => {
      const existing = this.findOpen(key);
      if (existing) return existing;
      const at = this.#now().toISOString();
      cached(
        this.#db,
        `INSERT INTO sessions (key, platform, chat_type, chat_id, thread_id, user_id, started_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        key,
        source.platform,
        source.chatType,
        source.chatId,
        source.threadId ?? null,
        source.userId ?? null,
        at,
        at,
      );
      return this.findOpen(key)!;
    });
  }

  /** The open session of `key`, if any. */
  findOpen(key: string): SessionRecord | undefined {
    return cached(this.#db, `${this.#select} WHERE s.key = ? AND s.ended_at IS NULL`).get(key) as
      | SessionRecord
      | undefined;
  }

  /** Marks activity on a session (for idle resets and listing order). */
  touch(id: number): void {
    cached(this.#db, "UPDATE sessions SET updated_at = ? WHERE id = ?")
      .run(this.#now().toISOString(), id);
  }

  /** Ends a session (`/new`, `/reset`, a reset policy); its transcript stays. */
  end(id: number, reason: string): void {
    cached(
      this.#db,
      "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
    ).run(this.#now().toISOString(), reason, id);
  }

  /** Sessions, most recently active first. */
  list(options: { limit?: number; includeEnded?: boolean } = {}): SessionRecord[] {
    const where = options.includeEnded ? "" : "WHERE s.ended_at IS NULL";
    return cached(
      this.#db,
      `${this.#select} ${where} ORDER BY s.updated_at DESC, s.id DESC LIMIT ?`,
    )
      .all(options.limit ?? 100) as unknown as SessionRecord[];
  }

  /** Up to `limit` open sessions with an id above `afterId`, by id. */
  openAfter(afterId: number, limit: number): SessionRecord[] {
    return cached(
      this.#db,
      `${this.#select} INDEXED BY sessions_open WHERE s.ended_at IS NULL AND s.id > ?
       ORDER BY s.id LIMIT ?`,
    ).all(afterId, limit) as unknown as SessionRecord[];
  }

  /** The most recently active session of chat `chatId` of `platform`, open or ended. */
  newestOfChat(platform: string, chatId: string): SessionRecord | undefined {
    return cached(
      this.#db,
      `${this.#select} WHERE s.platform = ? AND s.chat_id = ? ORDER BY s.updated_at DESC, s.id DESC LIMIT 1`,
    ).get(platform, chatId) as SessionRecord | undefined;
  }

  /** Every session that had `key`, newest first. */
  history(key: string): SessionRecord[] {
    return cached(this.#db, `${this.#select} WHERE s.key = ? ORDER BY s.id DESC`)
      .all(key) as unknown as SessionRecord[];
  }
}
