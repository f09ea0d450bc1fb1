/**
 * The outbound ledger: one row per reply message, keyed by an idempotency key
 * derived from the inbound message and the part number. A message is
 * `sending` once the platform gave it an id (streaming edits continue it) and
 * `sent` once its final text was delivered; a restart skips sent ones and
 * finishes the rest.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { cached } from "./database.ts";
import type { LedgerEntry } from "../state_store.ts";

/**
 * Reads and writes the outbound ledger.
 *
 * @example
 * ```ts
 * import type { DatabaseSync } from "node:sqlite";
 * declare const db: DatabaseSync;
 * const ledger = new OutboundLedger(db);
 * if (ledger.get("inbound:7#0")?.state !== "sent") {
 *   // send it, then:
 *   ledger.record("inbound:7#0", {
 *     platform: "local",
 *     chat: "alice",
 *     state: "sent",
 *     messageId: "m2",
 *     text: "Hello",
 *   });
 * }
 * ```
 */
export class OutboundLedger {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date = () => new Date()) {
    this.#db = db;
    this.#now = now;
  }

  /** The row of `key`, if any. */
  get(key: string): LedgerEntry | undefined {
    const row = cached(
      this.#db,
      "SELECT state, platform_message_id FROM outbound_ledger WHERE idempotency_key = ?",
    ).get(key) as { state: "sending" | "sent"; platform_message_id: string | null } | undefined;
    return row && { key, state: row.state, platformMessageId: row.platform_message_id };
  }

  /** Records a message's progress; a `sent` row never goes back to `sending`. */
  record(
    key: string,
    entry: {
      platform: string;
      chat: string;
      state: "sending" | "sent";
      messageId: string;
      text: string;
    },
  ): void {
    const at = this.#now().toISOString();
    cached(
      this.#db,
      `INSERT INTO outbound_ledger
         (idempotency_key, platform, chat, state, platform_message_id, text, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (idempotency_key) DO UPDATE SET
         state = CASE WHEN state = 'sent' THEN 'sent' ELSE excluded.state END,
         platform_message_id = excluded.platform_message_id,
         text = excluded.text, updated_at = excluded.updated_at`,
    ).run(key, entry.platform, entry.chat, entry.state, entry.messageId, entry.text, at, at);
  }

  /** Deletes up to `limit` rows last touched before `before`; returns how many. */
  prune(before: Date, limit = -1): number {
    return Number(
      cached(
        this.#db,
        `DELETE FROM outbound_ledger WHERE rowid IN
           (SELECT rowid FROM outbound_ledger WHERE updated_at < ? LIMIT ?)`,
      ).run(before.toISOString(), limit).changes,
    );
  }

  /** How many rows {@linkcode OutboundLedger.prune} would delete. */
  prunable(before: Date): number {
    const row = cached(this.#db, "SELECT count(*) AS n FROM outbound_ledger WHERE updated_at < ?")
      .get(before.toISOString()) as { n: number };
    return Number(row.n);
  }
}
