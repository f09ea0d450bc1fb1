/**
 * Group commit for one SQLite connection: the units of work asked for in
 * the same turn of the event loop run in order in one transaction, each in
 * a savepoint of its own (one that fails is rolled back alone and rejects
 * alone), and every unit's promise settles only after the COMMIT that holds
 * it, so "resolved" keeps meaning "on disk". One fsync then covers many
 * units instead of one each.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";

interface Unit {
  readonly work: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Runs units of work on `db` in shared transactions.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * const commits = new GroupCommit(new DatabaseSync(":memory:"));
 * const [a, b] = await Promise.all([commits.run(() => 1), commits.run(() => 2)]); // one COMMIT
 * ```
 */
export class GroupCommit {
  readonly #db: DatabaseSync;
  #queue: Unit[] = [];
  /** The last commit held more than one unit: others are about. */
  #batching = false;
  #probes = 0;
  /** Transactions committed so far (for tests and benchmarks). */
  commits = 0;
  /** Units of work committed so far (a background job sees whether others came between its own). */
  units = 0;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Queues `work`; resolves with its result once the transaction holding it is committed. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.#queue.length > 1) return;
      // Under load, wait for the other I/O of this loop turn (its units join this commit);
      // alone, commit at once. Every 32nd unit looks whether others come along.
      if (this.#batching || ++this.#probes % 32 === 0) setImmediate(() => this.flush());
      else queueMicrotask(() => this.flush());
    });
  }

  /** Whether units wait for their commit (a read asked for now must come after them). */
  get pending(): boolean {
    return this.#queue.length > 0;
  }

  /** Runs and commits what is queued now (a close does it before closing). */
  flush(): void {
    const units = this.#queue;
    this.#queue = [];
    if (units.length === 0) return;
    this.#batching = units.length > 1;
    try {
      this.#db.exec("BEGIN IMMEDIATE");
    } catch (error) {
      for (const unit of units) unit.reject(error);
      return;
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    for (const unit of units) {
      this.#db.exec("SAVEPOINT unit");
      try {
        const value = unit.work();
        this.#db.exec("RELEASE unit");
        outcomes.push({ ok: true, value });
      } catch (error) {
        this.#db.exec("ROLLBACK TO unit");
        this.#db.exec("RELEASE unit");
        outcomes.push({ ok: false, error });
      }
    }
    try {
      this.#db.exec("COMMIT");
      this.commits++;
      this.units += units.length;
    } catch (error) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // nothing left to roll back
      }
      for (const unit of units) unit.reject(error);
      return;
    }
    units.forEach((unit, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    });
  }
}
