/**
 * The outbound ledger on PostgreSQL: one row per reply message, by its
 * idempotency key; `sending` once the platform gave it an id, `sent` once
 * its final text was delivered (never taken back).
 *
 * @module
 */

import type { LedgerEntry } from "../state_store.ts";
import type { Queryable, Tx } from "./database.ts";
import { textOf } from "./_values.ts";

/**
 * Reads and writes the outbound ledger.
 *
 * @example
 * ```ts
 * import type { Sql, Tx } from "./database.ts";
 * declare const sql: Sql, tx: Tx;
 * const ledger = new PgOutboundLedger();
 * if ((await ledger.get(sql, "inbound:7#0"))?.state !== "sent") {
 *   await ledger.record(tx, "inbound:7#0", {
 *     platform: "telegram", chat: "42", state: "sent", messageId: "m-9", text: "Hello",
 *   });
 * }
 * ```
 */
export class PgOutboundLedger {
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  /** The row of `key`, if any. */
  async get(q: Queryable, key: string): Promise<LedgerEntry | undefined> {
    const [row] = await q`SELECT state, platform_message_id FROM outbound_ledger
      WHERE idempotency_key = ${key}`;
    return row && {
      key,
      state: row.state as "sending" | "sent",
      platformMessageId: row.platform_message_id as string | null,
    };
  }

  /** Records a message's progress; a `sent` row never goes back to `sending`. */
  async record(
    tx: Tx,
    key: string,
    entry: {
      platform: string;
      chat: string;
      state: "sending" | "sent";
      messageId: string;
      text: string;
    },
  ): Promise<void> {
    const at = this.#now().toISOString();
    await tx`
      INSERT INTO outbound_ledger
        (idempotency_key, platform, chat, state, platform_message_id, text, created_at, updated_at)
      VALUES (${key}, ${entry.platform}, ${entry.chat}, ${entry.state}, ${entry.messageId},
        ${textOf(entry.text)}, ${at}, ${at})
      ON CONFLICT (idempotency_key) DO UPDATE SET
        state = CASE WHEN outbound_ledger.state = 'sent' THEN 'sent' ELSE excluded.state END,
        platform_message_id = excluded.platform_message_id,
        text = excluded.text, updated_at = excluded.updated_at`;
  }

  /** Deletes rows last touched before `before`. */
  async prune(tx: Tx, before: Date, limit: number): Promise<number> {
    return (await tx`DELETE FROM outbound_ledger WHERE idempotency_key IN (
      SELECT idempotency_key FROM outbound_ledger WHERE updated_at < ${before.toISOString()}
      LIMIT ${limit})`).count;
  }

  /** How many rows {@linkcode PgOutboundLedger.prune} would forget. */
  async prunable(q: Queryable, before: Date): Promise<number> {
    const [row] = await q`SELECT count(*) AS n FROM outbound_ledger
      WHERE updated_at < ${before.toISOString()}`;
    return Number(row!.n);
  }
}
