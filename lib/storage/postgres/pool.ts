/**
 * The connection pool, renewed whole when a connection is lost. The
 * driver (npm:postgres 3.4.9) keeps a connection object after its socket
 * closed and opens a new socket inside it; one that closed while a write
 * was scheduled never writes again (its write timer stays set), so a
 * reconnect through it hangs to its connect timeout, again and again. A
 * pool that lost a connection is therefore retired: the work under way on
 * it finishes (or fails and is tried again), then it is closed at once; new
 * work goes to a fresh pool.
 *
 * @module
 */

import type { Sql } from "./database.ts";

interface Generation {
  readonly sql: Sql;
  /** Work under way on it. */
  busy: number;
  retired: boolean;
}

/**
 * A pool that renews itself after a connection loss.
 *
 * @example
 * ```ts
 * import postgres from "postgres";
 * import { isConnectionLoss } from "./unit_of_work.ts";
 * const url = "postgres://hermes@127.0.0.1:5432/hermes";
 * const pool = new PgPool(() => postgres(url, { max: 10 }), isConnectionLoss);
 * const [row] = await pool.use((sql) => sql`SELECT 1 AS one`);
 * await pool.end();
 * ```
 */
export class PgPool {
  readonly #make: () => Sql;
  readonly #isLoss: (error: unknown) => boolean;
  #current: Generation;
  readonly #ending = new Set<Promise<void>>();
  #ended = false;
  /** Pools retired so far (for tests and status). */
  renewals = 0;

  constructor(make: () => Sql, isLoss: (error: unknown) => boolean) {
    this.#make = make;
    this.#isLoss = isLoss;
    this.#current = { sql: make(), busy: 0, retired: false };
  }

  /** Runs `work` on the current pool; a connection loss in it retires that pool. */
  async use<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    const generation = this.#current;
    generation.busy++;
    try {
      return await work(generation.sql);
    } catch (error) {
      if (this.#isLoss(error) && generation === this.#current && !this.#ended) {
        generation.retired = true;
        this.#current = { sql: this.#make(), busy: 0, retired: false };
        this.renewals++;
      }
      throw error;
    } finally {
      generation.busy--;
      if (generation.retired && generation.busy === 0) this.#end(generation);
    }
  }

  /** Closes every connection; resolves once they are closed. Call when no work is under way. */
  async end(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      this.#current.retired = true;
      if (this.#current.busy === 0) this.#end(this.#current);
    }
    while (this.#ending.size > 0) await Promise.allSettled([...this.#ending]);
  }

  #end(generation: Generation): void {
    // Nothing runs on it any more: closed at once (a polite end can wait for a dead socket).
    const ending = generation.sql.end({ timeout: 0 }).catch(() => {});
    this.#ending.add(ending);
    ending.then(() => this.#ending.delete(ending));
  }
}
