/**
 * Retention of ended sessions: a session ended before the cutoff goes with
 * its transcript and its rows in the search indexes, in batches small
 * enough that a reply waiting for the same connection is not held up (every
 * statement of `node:sqlite` runs on the event loop).
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { cached } from "./database.ts";
import type { SearchIndex } from "./search_index.ts";
import type { ExpiredSessions, SessionPruneCounts } from "../state_store.ts";
import type { SessionRecord } from "../state_store.ts";

/** Sessions looked at per batch (each may bring many messages). */
const SESSIONS_PER_BATCH = 32;

/**
 * Finds and deletes ended sessions older than a cutoff.
 *
 * @example
 * ```ts
 * import { openDatabase, transaction } from "./database.ts";
 * import { STATE_MIGRATIONS } from "./migrations.ts";
 * import { SearchIndex } from "./search_index.ts";
 * const db = openDatabase("/srv/hermes/state.db", STATE_MIGRATIONS);
 * const retention = new SessionRetention(db, new SearchIndex(db));
 * const cutoff = new Date("2026-01-01T00:00:00Z");
 * retention.expired(cutoff); // { sessions: [...], messages: 1234 }
 * while (transaction(db, () => retention.pruneBatch(cutoff, 256)).messages > 0);
 * ```
 */
export class SessionRetention {
  readonly #db: DatabaseSync;
  readonly #index: SearchIndex;

  constructor(db: DatabaseSync, index: SearchIndex) {
    this.#db = db;
    this.#index = index;
  }

  /**
   * The sessions ended before `before`, first ended first, and their
   * messages' count. The newest session stays whatever its age: SQLite
   * numbers a new row after the highest id left, and a session id used
   * again would be taken for the old session by what holds it (the recent
   * history of a running gateway).
   */
  expired(before: Date): ExpiredSessions {
    const sessions = cached(
      this.#db,
      `SELECT s.* FROM sessions s WHERE s.ended_at IS NOT NULL AND s.ended_at < ?
         AND s.id < (SELECT max(id) FROM sessions)
       ORDER BY s.ended_at, s.id`,
    ).all(before.toISOString()) as unknown as SessionRecord[];
    return {
      sessions,
      messages: sessions.reduce((sum, s) => sum + Number(s.message_count), 0),
    };
  }

  /**
   * Deletes up to `budget` messages of sessions ended before `before` (out
   * of the indexes first), and each session whose last message went; call
   * inside a transaction. Nothing deleted: nothing is left to prune.
   */
  pruneBatch(before: Date, budget: number): SessionPruneCounts {
    const ids = cached(
      this.#db,
      `SELECT id FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ?
         AND id < (SELECT max(id) FROM sessions)
       ORDER BY ended_at, id LIMIT ?`,
    ).all(before.toISOString(), SESSIONS_PER_BATCH) as { id: number }[];
    const done: SessionPruneCounts = { sessions: 0, messages: 0 };
    for (const { id } of ids) {
      const wanted = budget - done.messages;
      if (wanted <= 0) break;
      const rows = cached(
        this.#db,
        "SELECT id, text FROM messages WHERE session_id = ? ORDER BY id LIMIT ?",
      ).all(id, wanted) as { id: number; text: string }[];
      this.#index.remove(rows);
      const remove = cached(this.#db, "DELETE FROM messages WHERE id = ?");
      for (const row of rows) remove.run(row.id);
      done.messages += rows.length;
      if (rows.length === wanted) break; // the budget is spent; the rest waits for the next batch
      cached(this.#db, "DELETE FROM sessions WHERE id = ?").run(id);
      done.sessions++;
    }
    if (done.messages > 0) this.#index.settle();
    return done;
  }
}
