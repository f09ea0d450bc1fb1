/**
 * When each maintenance task (the daily prune of ended sessions) last ran,
 * kept in state.db so that a restarted gateway, or a prune run by hand,
 * counts for the day.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { cached } from "./database.ts";

/**
 * Reads and records maintenance runs.
 *
 * @example
 * ```ts
 * import type { DatabaseSync } from "node:sqlite";
 * declare const db: DatabaseSync;
 * const runs = new MaintenanceRuns(db);
 * runs.record("session_prune", new Date());
 * runs.last("session_prune"); // "2026-12-02T04:00:00.000Z"
 * ```
 */
export class MaintenanceRuns {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** When `task` last ran (ISO time), if ever. */
  last(task: string): string | undefined {
    const row = cached(this.#db, "SELECT last_run_at FROM maintenance_runs WHERE task = ?")
      .get(task) as { last_run_at: string } | undefined;
    return row?.last_run_at;
  }

  /** Records that `task` ran at `at`. */
  record(task: string, at: Date): void {
    cached(
      this.#db,
      `INSERT INTO maintenance_runs (task, last_run_at) VALUES (?, ?)
       ON CONFLICT (task) DO UPDATE SET last_run_at = excluded.last_run_at`,
    ).run(task, at.toISOString());
  }
}
