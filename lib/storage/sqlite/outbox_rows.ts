/**
 * The outbox in state.db: one row per final reply part, written with the
 * turn that produced it and moved through its states by the gateway's
 * outbox (`lib/gateway/outbox.ts`); and the newest reply context of each
 * chat.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { Json, SessionSource } from "../../platforms/event.ts";
import {
  chatKeyOf,
  type NewPart,
  type OutboxCounts,
  type OutboxPart,
  type PartState,
} from "../state_store.ts";
import { cached } from "./database.ts";

interface Row {
  id: number;
  inbound_id: number;
  part: number;
  platform: string;
  chat_key: string;
  target: string;
  reply_to: string | null;
  text: string;
  format: "plain" | "markdown";
  idempotency_key: string;
  edit_of: string | null;
  state: PartState;
  attempts: number;
  not_before: string | null;
  waiting_for_inbound: number;
  deadline: string;
  platform_message_id: string | null;
  last_code: string | null;
  last_error: string | null;
  attachments: string | null;
  shown_text: string | null;
}

/**
 * The states of a part not yet sent nor given up. Written exactly as the
 * partial index `outbox_open_by_chat` is (schema 10), so that SQLite uses it.
 */
const OPEN = "('queued', 'sending', 'deferred', 'failed')";

/**
 * Reads and writes outbox rows (the caller holds the transaction).
 *
 * @example
 * ```ts
 * import type { DatabaseSync } from "node:sqlite";
 * declare const db: DatabaseSync;
 * const target = { platform: "local", chatType: "dm", chatId: "alice" } as const;
 * const deadline = "2026-12-02T05:00:00.000Z";
 * const outbox = new OutboxRows(db);
 * outbox.add({ inboundId: 7, target, replyTo: "m1", deadline }, [{ text: "Hello" }]);
 * outbox.open(); // [{ idempotencyKey: "inbound:7#0", state: "queued", ... }]
 * ```
 */
export class OutboxRows {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date = () => new Date()) {
    this.#db = db;
    this.#now = now;
  }

  /**
   * Queues the parts of the reply to entry `inboundId`, in order (`replyTo`
   * null: a message that answers none, `hermes send`).
   */
  add(
    reply: { inboundId: number; target: SessionSource; replyTo: string | null; deadline: string },
    parts: readonly NewPart[],
  ): void {
    const at = this.#now().toISOString();
    const insert = cached(
      this.#db,
      `INSERT INTO outbox (inbound_id, part, platform, chat_key, target, reply_to, text, format,
         idempotency_key, edit_of, state, deadline, created_at, updated_at, attachments,
         shown_text)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)`,
    );
    parts.forEach((part, index) =>
      insert.run(
        reply.inboundId,
        index,
        reply.target.platform,
        chatKeyOf(reply.target),
        JSON.stringify(reply.target),
        reply.replyTo,
        part.text,
        part.format ?? "plain",
        `inbound:${reply.inboundId}#${index}`,
        part.editOf ?? null,
        reply.deadline,
        at,
        at,
        part.attachments?.length ? JSON.stringify(part.attachments) : null,
        part.shownText ?? null,
      )
    );
  }

  /** Parts not sent nor given up, oldest first. */
  open(): OutboxPart[] {
    // Without statistics, SQLite would rather scan every part ever sent than sort the open ones.
    return this.#select(`state IN ${OPEN} ORDER BY id`, [], "INDEXED BY outbox_open_by_chat");
  }

  /** The oldest open part of `chatKey`: the one its chat waits on. */
  next(chatKey: string): OutboxPart | undefined {
    return this.#select(`chat_key = ? AND state IN ${OPEN} ORDER BY id LIMIT 1`, [chatKey])[0];
  }

  /** Every part of the reply to `inboundId`, in order. */
  of(inboundId: number): OutboxPart[] {
    return this.#select("inbound_id = ? ORDER BY part", [inboundId]);
  }

  /** Marks a try; returns the attempt number. */
  startSending(id: number): number {
    const row = cached(
      this.#db,
      `UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?, claimed_by = NULL
       WHERE id = ? RETURNING attempts`,
    ).get(this.#now().toISOString(), id) as { attempts: number } | undefined;
    return row?.attempts ?? 0;
  }

  /**
   * Counts the first try of the reply to `inboundId` now, for run `runId`,
   * when its first part is the one its chat waits on (nothing of the chat
   * goes before it); returns that part's id, if so.
   */
  claimFirstTry(chatKey: string, inboundId: number, runId: string): number | undefined {
    const row = cached(
      this.#db,
      `UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_by = ?, updated_at = ?
       WHERE id = (SELECT id FROM outbox WHERE chat_key = ? AND state IN ${OPEN} ORDER BY id LIMIT 1)
         AND inbound_id = ? AND part = 0 AND attempts = 0
       RETURNING id`,
    ).get(runId, this.#now().toISOString(), chatKey, inboundId) as { id: number } | undefined;
    return row?.id;
  }

  /** The tries of part `id` when run `runId` counted its first one and has not sent it yet. */
  claimedTries(id: number, runId: string): number | undefined {
    const row = cached(
      this.#db,
      "SELECT attempts FROM outbox WHERE id = ? AND state = 'sending' AND claimed_by = ?",
    ).get(id, runId) as { attempts: number } | undefined;
    return row?.attempts;
  }

  /** Moves a part to `state` with the given fields. */
  set(
    id: number,
    state: PartState,
    fields: {
      messageId?: string;
      code?: string;
      error?: string;
      notBefore?: string | null;
      waitingForInbound?: boolean;
    } = {},
  ): void {
    cached(
      this.#db,
      `UPDATE outbox SET state = ?, updated_at = ?,
         platform_message_id = coalesce(?, platform_message_id),
         last_code = coalesce(?, last_code), last_error = coalesce(?, last_error),
         not_before = ?, waiting_for_inbound = ?, claimed_by = NULL
       WHERE id = ?`,
    ).run(
      state,
      this.#now().toISOString(),
      fields.messageId ?? null,
      fields.code ?? null,
      fields.error ?? null,
      fields.notBefore ?? null,
      fields.waitingForInbound ? 1 : 0,
      id,
    );
  }

  /** Whether parts of `chatKey` wait for the chat to speak (`wake` would move them). */
  waiting(chatKey: string): boolean {
    return cached(
      this.#db,
      `SELECT 1 FROM outbox WHERE chat_key = ? AND state IN ${OPEN} AND state = 'deferred'
         AND waiting_for_inbound = 1 LIMIT 1`,
    ).get(chatKey) !== undefined;
  }

  /** Queues again the parts of `chatKey` deferred until its next inbound message. */
  wake(chatKey: string): number {
    return Number(
      cached(
        this.#db,
        `UPDATE outbox SET state = 'queued', waiting_for_inbound = 0, updated_at = ?
         WHERE chat_key = ? AND state IN ${OPEN} AND state = 'deferred' AND waiting_for_inbound = 1`,
      ).run(this.#now().toISOString(), chatKey).changes,
    );
  }

  /**
   * Keeps `context`, of a message received at `receivedAt` (ISO), as the
   * newest reply context of `chatKey`, unless the chat has one of a later message.
   */
  saveContext(chatKey: string, context: Json, receivedAt: string): void {
    cached(
      this.#db,
      `INSERT INTO chat_contexts (chat_key, reply_context, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (chat_key) DO UPDATE SET
         reply_context = excluded.reply_context, updated_at = excluded.updated_at
       WHERE excluded.updated_at >= chat_contexts.updated_at`,
    ).run(chatKey, JSON.stringify(context), receivedAt);
  }

  /** The newest reply context of `chatKey`. */
  context(chatKey: string): Json | undefined {
    const row = cached(this.#db, "SELECT reply_context FROM chat_contexts WHERE chat_key = ?")
      .get(chatKey) as { reply_context: string } | undefined;
    return row ? JSON.parse(row.reply_context) as Json : undefined;
  }

  /** Parts by state, sent ones left out (so is their index: this stays proportional to the others). */
  counts(): OutboxCounts {
    const counts: Record<Exclude<PartState, "sent">, number> = {
      queued: 0,
      sending: 0,
      deferred: 0,
      failed: 0,
      undeliverable: 0,
    };
    const rows = cached(
      this.#db,
      // A first try counted with its reply is not under way until the outbox takes it (its
      // platform's link may be down): it counts as queued, as it would without the claim.
      `SELECT CASE WHEN state = 'sending' AND claimed_by IS NOT NULL THEN 'queued' ELSE state END
         AS state, count(*) AS n FROM outbox
       WHERE state <> 'sent' GROUP BY 1`,
    ).all() as unknown as { state: Exclude<PartState, "sent">; n: number }[];
    for (const row of rows) counts[row.state] = Number(row.n);
    return counts;
  }

  /**
   * Forgets up to `limit` sent and undeliverable parts written before
   * `before` (a part's deadline ends its tries within hours of its writing);
   * returns how many.
   */
  prune(before: Date, limit = -1): number {
    return Number(
      cached(
        this.#db,
        `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
           WHERE state IN ('sent', 'undeliverable') AND created_at < ? LIMIT ?)`,
      ).run(before.toISOString(), limit).changes,
    );
  }

  /** How many parts {@linkcode OutboxRows.prune} would forget. */
  prunable(before: Date): number {
    const row = cached(
      this.#db,
      "SELECT count(*) AS n FROM outbox WHERE state IN ('sent', 'undeliverable') AND created_at < ?",
    ).get(before.toISOString()) as { n: number };
    return Number(row.n);
  }

  #select(where: string, params: (string | number)[], indexedBy = ""): OutboxPart[] {
    const rows = cached(this.#db, `SELECT * FROM outbox ${indexedBy} WHERE ${where}`)
      .all(...params) as unknown as Row[];
    return rows.map((row) => ({
      id: row.id,
      inboundId: row.inbound_id,
      part: row.part,
      platform: row.platform,
      chatKey: row.chat_key,
      target: JSON.parse(row.target) as SessionSource,
      replyTo: row.reply_to,
      text: row.text,
      format: row.format,
      idempotencyKey: row.idempotency_key,
      editOf: row.edit_of,
      state: row.state,
      attempts: row.attempts,
      notBefore: row.not_before,
      waitingForInbound: row.waiting_for_inbound === 1,
      deadline: row.deadline,
      platformMessageId: row.platform_message_id,
      lastCode: row.last_code,
      lastError: row.last_error,
      attachments: row.attachments ? JSON.parse(row.attachments) : [],
      shownText: row.shown_text,
    }));
  }
}
