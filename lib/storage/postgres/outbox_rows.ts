/**
 * The outbox on PostgreSQL: one row per final reply part, written with the
 * turn that produced it and moved through its states by the gateway's
 * outbox; and the newest reply context of each chat.
 *
 * @module
 */

import type { Attachment, Json, SessionSource } from "../../platforms/event.ts";
import {
  chatKeyOf,
  type NewPart,
  type OutboxCounts,
  type OutboxPart,
  type PartState,
} from "../state_store.ts";
import type { Queryable, Tx } from "./database.ts";
import { asJson, textOf } from "./_values.ts";

interface Row {
  id: number;
  inbound_id: number;
  part: number;
  platform: string;
  chat_key: string;
  target: SessionSource;
  reply_to: string | null;
  text: string;
  format: "plain" | "markdown";
  idempotency_key: string;
  edit_of: string | null;
  state: PartState;
  attempts: number;
  not_before: string | null;
  waiting_for_inbound: boolean;
  deadline: string;
  platform_message_id: string | null;
  last_code: string | null;
  last_error: string | null;
  attachments: Attachment[] | null;
  shown_text: string | null;
}

// A part not yet sent nor given up is in state IN ('queued', 'sending', 'deferred', 'failed'),
// written out in every query exactly as the partial indexes say it: the planner uses an index
// only for a condition it can match to the index's own, never for a parameter.

/**
 * Reads and writes outbox rows (the caller passes the transaction).
 *
 * @example
 * ```ts
 * import type { SessionSource } from "../../platforms/event.ts";
 * import type { Sql, Tx } from "./database.ts";
 * declare const sql: Sql, tx: Tx, target: SessionSource, deadline: string;
 * const outbox = new PgOutboxRows();
 * await outbox.add(tx, { inboundId: 7, target, replyTo: "m1", deadline }, [{ text: "Hello" }]);
 * await outbox.open(sql); // [{ idempotencyKey: "inbound:7#0", state: "queued", ... }]
 * ```
 */
export class PgOutboxRows {
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  /** Queues the parts of the reply to entry `inboundId`, in order. */
  async add(
    tx: Tx,
    reply: { inboundId: number; target: SessionSource; replyTo: string | null; deadline: string },
    parts: readonly NewPart[],
  ): Promise<void> {
    if (parts.length === 0) return;
    const at = this.#now().toISOString();
    const rows = parts.map((part, index) => ({
      inbound_id: reply.inboundId,
      part: index,
      platform: reply.target.platform,
      chat_key: chatKeyOf(reply.target),
      target: asJson(tx, reply.target),
      reply_to: reply.replyTo,
      text: textOf(part.text),
      format: part.format ?? "plain",
      idempotency_key: `inbound:${reply.inboundId}#${index}`,
      edit_of: part.editOf ?? null,
      state: "queued",
      deadline: reply.deadline,
      created_at: at,
      updated_at: at,
      attachments: part.attachments?.length ? asJson(tx, part.attachments) : null,
      shown_text: part.shownText === undefined ? null : textOf(part.shownText),
    }));
    await tx`INSERT INTO outbox ${tx(rows as unknown as Record<string, never>[])}`;
  }

  /** Parts not sent nor given up, oldest first. */
  async open(q: Queryable): Promise<OutboxPart[]> {
    return parts(
      await q`SELECT * FROM outbox WHERE state IN ('queued', 'sending', 'deferred', 'failed') ORDER BY id`,
    );
  }

  /** The oldest open part of `chatKey`: the one its chat waits on. */
  async next(q: Queryable, chatKey: string): Promise<OutboxPart | undefined> {
    return parts(
      await q`SELECT * FROM outbox WHERE chat_key = ${chatKey} AND state IN ('queued', 'sending', 'deferred', 'failed')
        ORDER BY id LIMIT 1`,
    )[0];
  }

  /** Every part of the reply to `inboundId`, in order. */
  async of(q: Queryable, inboundId: number): Promise<OutboxPart[]> {
    return parts(await q`SELECT * FROM outbox WHERE inbound_id = ${inboundId} ORDER BY part`);
  }

  /** Marks a try; returns the attempt number. */
  async startSending(tx: Tx, id: number): Promise<number> {
    const [row] = await tx`UPDATE outbox SET state = 'sending', attempts = attempts + 1,
        updated_at = ${this.#now().toISOString()}, claimed_by = NULL
      WHERE id = ${id} RETURNING attempts`;
    return Number(row?.attempts ?? 0);
  }

  /**
   * Counts the first try of the reply to `inboundId` now, for run `runId`,
   * when its first part is the one its chat waits on; returns that part's id.
   */
  async claimFirstTry(
    tx: Tx,
    chatKey: string,
    inboundId: number,
    runId: string,
  ): Promise<number | undefined> {
    const [row] = await tx`UPDATE outbox SET state = 'sending', attempts = attempts + 1,
        claimed_by = ${runId}, updated_at = ${this.#now().toISOString()}
      WHERE id = (SELECT id FROM outbox WHERE chat_key = ${chatKey} AND state IN ('queued', 'sending', 'deferred', 'failed')
          ORDER BY id LIMIT 1)
        AND inbound_id = ${inboundId} AND part = 0 AND attempts = 0
      RETURNING id`;
    return row ? Number(row.id) : undefined;
  }

  /** The tries of part `id` when run `runId` counted its first one and has not sent it yet. */
  async claimedTries(q: Queryable, id: number, runId: string): Promise<number | undefined> {
    const [row] = await q`SELECT attempts FROM outbox
      WHERE id = ${id} AND state = 'sending' AND claimed_by = ${runId}`;
    return row ? Number(row.attempts) : undefined;
  }

  /** Moves a part to `state` with the given fields. */
  async set(
    tx: Tx,
    id: number,
    state: PartState,
    fields: {
      messageId?: string;
      code?: string;
      error?: string;
      notBefore?: string | null;
      waitingForInbound?: boolean;
    } = {},
  ): Promise<void> {
    await tx`UPDATE outbox SET state = ${state}, updated_at = ${this.#now().toISOString()},
        platform_message_id = coalesce(${fields.messageId ?? null}, platform_message_id),
        last_code = coalesce(${fields.code ?? null}, last_code),
        last_error = coalesce(${
      fields.error === undefined ? null : textOf(fields.error)
    }, last_error),
        not_before = ${fields.notBefore ?? null},
        waiting_for_inbound = ${fields.waitingForInbound ?? false}, claimed_by = NULL
      WHERE id = ${id}`;
  }

  /** Whether parts of `chatKey` wait for the chat to speak. */
  async waiting(q: Queryable, chatKey: string): Promise<boolean> {
    return (await q`SELECT 1 FROM outbox WHERE chat_key = ${chatKey} AND state IN ('queued', 'sending', 'deferred', 'failed')
      AND state = 'deferred' AND waiting_for_inbound LIMIT 1`).length > 0;
  }

  /** Queues again the parts of `chatKey` deferred until its next inbound message. */
  async wake(tx: Tx, chatKey: string): Promise<number> {
    return (await tx`UPDATE outbox SET state = 'queued', waiting_for_inbound = false,
        updated_at = ${this.#now().toISOString()}
      WHERE chat_key = ${chatKey} AND state IN ('queued', 'sending', 'deferred', 'failed') AND state = 'deferred'
        AND waiting_for_inbound`).count;
  }

  /** Keeps `context` as the newest reply context of `chatKey`, unless the chat has a later one. */
  async saveContext(tx: Tx, chatKey: string, context: Json, receivedAt: string): Promise<void> {
    await tx`INSERT INTO chat_contexts (chat_key, reply_context, updated_at)
      VALUES (${chatKey}, ${asJson(tx, context)}, ${receivedAt})
      ON CONFLICT (chat_key) DO UPDATE SET
        reply_context = excluded.reply_context, updated_at = excluded.updated_at
      WHERE excluded.updated_at >= chat_contexts.updated_at`;
  }

  /** The newest reply context of `chatKey`. */
  async context(q: Queryable, chatKey: string): Promise<Json | undefined> {
    const [row] = await q`SELECT reply_context FROM chat_contexts WHERE chat_key = ${chatKey}`;
    return row ? row.reply_context as Json : undefined;
  }

  /** Parts by state, sent ones left out; a claimed first try counts as queued. */
  async counts(q: Queryable): Promise<OutboxCounts> {
    const counts: Record<Exclude<PartState, "sent">, number> = {
      queued: 0,
      sending: 0,
      deferred: 0,
      failed: 0,
      undeliverable: 0,
    };
    const rows = await q`
      SELECT CASE WHEN state = 'sending' AND claimed_by IS NOT NULL THEN 'queued' ELSE state END
        AS state, count(*) AS n
      FROM outbox WHERE state <> 'sent' GROUP BY 1`;
    for (const row of rows) counts[row.state as Exclude<PartState, "sent">] = Number(row.n);
    return counts;
  }

  /** Forgets sent and undeliverable parts written before `before`. */
  async prune(tx: Tx, before: Date, limit: number): Promise<number> {
    return (await tx`DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
      WHERE state IN ('sent', 'undeliverable') AND created_at < ${before.toISOString()}
      LIMIT ${limit})`).count;
  }

  /** How many parts {@linkcode PgOutboxRows.prune} would forget. */
  async prunable(q: Queryable, before: Date): Promise<number> {
    const [row] = await q`SELECT count(*) AS n FROM outbox
      WHERE state IN ('sent', 'undeliverable') AND created_at < ${before.toISOString()}`;
    return Number(row!.n);
  }
}

function parts(rows: readonly Record<string, unknown>[]): OutboxPart[] {
  return (rows as unknown as Row[]).map((row) => ({
    id: Number(row.id),
    inboundId: Number(row.inbound_id),
    part: row.part,
    platform: row.platform,
    chatKey: row.chat_key,
    target: row.target,
    replyTo: row.reply_to,
    text: row.text,
    format: row.format,
    idempotencyKey: row.idempotency_key,
    editOf: row.edit_of,
    state: row.state,
    attempts: row.attempts,
    notBefore: row.not_before,
    waitingForInbound: row.waiting_for_inbound,
    deadline: row.deadline,
    platformMessageId: row.platform_message_id,
    lastCode: row.last_code,
    lastError: row.last_error,
    attachments: row.attachments ?? [],
    shownText: row.shown_text,
  }));
}
