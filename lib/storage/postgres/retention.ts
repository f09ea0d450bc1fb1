/**
 * Retention on PostgreSQL: ended sessions past `sessions.retention_days`
 * go with their messages (a message's search columns go with its row), in
 * small transactions so replies get in between; when each maintenance task
 * last ran is kept, so a restart does not run it again.
 *
 * @module
 */

import type { ExpiredSessions, SessionPruneCounts, SessionRecord } from "../state_store.ts";
import type { Queryable, Tx } from "./database.ts";

/** Messages deleted in one transaction. */
export const MESSAGES_PER_BATCH = 500;

/**
 * Reads and deletes expired sessions (the caller passes the transaction).
 *
 * @example
 * ```ts
 * import type { Tx } from "./database.ts";
 * declare const tx: Tx;
 * const retention = new PgSessionRetention();
 * const step = await retention.pruneBatch(tx, new Date("2026-01-01"), 500);
 * ```
 */
export class PgSessionRetention {
  /** The sessions ended before `before`, first ended first, and their messages' count. */
  async expired(q: Queryable, before: Date): Promise<ExpiredSessions> {
    const rows = await q`SELECT * FROM sessions WHERE ended_at IS NOT NULL
      AND ended_at < ${before.toISOString()} ORDER BY ended_at, id`;
    const sessions = rows.map((row) =>
      ({ ...row, id: Number(row.id), message_count: Number(row.message_count) }) as SessionRecord
    );
    return { sessions, messages: sessions.reduce((sum, s) => sum + s.message_count, 0) };
  }

  /**
   * Deletes up to `budget` messages of the first session ended before
   * `before`, and the session once none is left. Nothing deleted: nothing is
   * left to prune.
   */
  async pruneBatch(tx: Tx, before: Date, budget: number): Promise<SessionPruneCounts> {
    const [session] = await tx`SELECT id FROM sessions WHERE ended_at IS NOT NULL
      AND ended_at < ${before.toISOString()} ORDER BY ended_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`;
    if (!session) return { sessions: 0, messages: 0 };
    const messages = (await tx`DELETE FROM messages WHERE id IN (
      SELECT id FROM messages WHERE session_id = ${session.id} ORDER BY id LIMIT ${budget})`).count;
    if (messages === budget) return { sessions: 0, messages };
    await tx`DELETE FROM sessions WHERE id = ${session.id}`;
    return { sessions: 1, messages };
  }

  /** When task `task` last ran (ISO time), if ever. */
  async last(q: Queryable, task: string): Promise<string | undefined> {
    const [row] = await q`SELECT last_run_at FROM maintenance_runs WHERE task = ${task}`;
    return row ? String(row.last_run_at) : undefined;
  }

  /** Records that task `task` ran at `at`. */
  async record(tx: Tx, task: string, at: Date): Promise<void> {
    await tx`INSERT INTO maintenance_runs (task, last_run_at) VALUES (${task}, ${at.toISOString()})
      ON CONFLICT (task) DO UPDATE SET last_run_at = EXCLUDED.last_run_at`;
  }
}
