/**
 * First tries counted with their replies, on PostgreSQL: the unit of work
 * that queues a reply also counts the first try of its first part when its
 * chat waits on nothing earlier (claimed by this open of the store), so the
 * outbox's `startSending` for it is a read. Each claim is handed out once;
 * after a restart (or on another gateway) it is void, and the next try
 * counts as the second. As `../sqlite/first_try_claims.ts`, asynchronously.
 *
 * @module
 */

import type { OutboxCounts } from "../state_store.ts";
import type { Queryable, Tx } from "./database.ts";
import type { PgOutboxRows } from "./outbox_rows.ts";

/**
 * The claims of one open store.
 *
 * @example
 * ```ts
 * import type { Sql, Tx } from "./database.ts";
 * import { PgOutboxRows } from "./outbox_rows.ts";
 * declare const sql: Sql, tx: Tx;
 * const claims = new PgFirstTryClaims(new PgOutboxRows());
 * await claims.claim(tx, '["local","ada",""]', 7); // inside the unit that queued reply 7
 * await claims.take(sql, 1); // 1: its first try, already counted (undefined the second time)
 * ```
 */
export class PgFirstTryClaims {
  readonly #outbox: PgOutboxRows;
  /** This open of the store: the claims it makes are its own. */
  readonly #runId = crypto.randomUUID();
  /** Parts whose claim was handed out, until the part moves on. */
  readonly #taken = new Set<number>();

  constructor(outbox: PgOutboxRows) {
    this.#outbox = outbox;
  }

  /** Counts the first try of reply `inboundId` now, if its chat `chatKey` waits on nothing else. */
  async claim(tx: Tx, chatKey: string, inboundId: number): Promise<void> {
    await this.#outbox.claimFirstTry(tx, chatKey, inboundId, this.#runId);
  }

  /** The tries of part `id` if its first try was claimed here and not handed out; hands it out. */
  async take(q: Queryable, id: number): Promise<number | undefined> {
    if (this.#taken.has(id)) return undefined;
    const tries = await this.#outbox.claimedTries(q, id, this.#runId);
    // Asked twice at once: the first answer takes it.
    if (tries === undefined || this.#taken.has(id)) return undefined;
    this.#taken.add(id);
    return tries;
  }

  /** Part `id` moved on, committed (the write cleared its claim). */
  moved(id: number): void {
    this.#taken.delete(id);
  }

  /** `counts` (claimed rows count as queued) with the claims handed out counted as sending. */
  underWay(counts: OutboxCounts): OutboxCounts {
    const taken = Math.min(this.#taken.size, counts.queued);
    return { ...counts, queued: counts.queued - taken, sending: counts.sending + taken };
  }
}
