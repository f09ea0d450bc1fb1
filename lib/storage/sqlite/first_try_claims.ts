/**
 * First tries counted with their replies: the unit of work that queues a
 * reply also counts the first try of its first part when its chat waits on
 * nothing earlier (the part is `sending`, one attempt, claimed by this open
 * of the store), so the outbox's `startSending` for it is a read instead of
 * a write. Each claim is handed out once; after a restart it is void, and
 * the next try is counted as the second, as any try that may have reached
 * the platform is.
 *
 * @module
 */

import type { OutboxCounts } from "../state_store.ts";
import type { OutboxRows } from "./outbox_rows.ts";

/**
 * The claims of one open store.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { OutboxRows } from "./outbox_rows.ts";
 * const claims = new FirstTryClaims(new OutboxRows(new DatabaseSync(":memory:")));
 * claims.claim('["local","ada",null]', 7); // inside the unit that queued reply 7
 * claims.take(1); // 1: its first try, already counted (undefined the second time)
 * ```
 */
export class FirstTryClaims {
  readonly #outbox: OutboxRows;
  /** This open of the store: the claims it makes are its own. */
  readonly #runId = crypto.randomUUID();
  /** Parts whose claim was handed out, until the part moves on. */
  readonly #taken = new Set<number>();

  constructor(outbox: OutboxRows) {
    this.#outbox = outbox;
  }

  /** Counts the first try of reply `inboundId` now, if its chat `chatKey` waits on nothing else. */
  claim(chatKey: string, inboundId: number): void {
    this.#outbox.claimFirstTry(chatKey, inboundId, this.#runId);
  }

  /** The tries of part `id` if its first try was claimed here and not handed out; hands it out. */
  take(id: number): number | undefined {
    if (this.#taken.has(id)) return undefined;
    const tries = this.#outbox.claimedTries(id, this.#runId);
    if (tries !== undefined) this.#taken.add(id);
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
