/**
 * The inbound journal on PostgreSQL: a message accepted from a platform is
 * written here before anything else happens, and marked finished once its
 * reply was delivered or definitively failed. Its unique (platform,
 * {@linkcode dedupId}) drops repeats, across gateways sharing the database.
 *
 * @module
 */

import { HermesError } from "../../errors.ts";
import type { MessageEvent, SessionSource } from "../../platforms/event.ts";
import type { InboundEntry, InboundState } from "../state_store.ts";
import { dedupId, joinedPiece, OPERATOR_MESSAGE_PREFIX } from "../dedup_id.ts";
import type { Queryable, Tx } from "./database.ts";
import { asJson } from "./_values.ts";

interface Row {
  id: number;
  session_key: string;
  event: MessageEvent;
  state: InboundState;
  attempts: number;
  transcript_id: number | null;
}

/**
 * Reads and writes the inbound journal (the caller passes the transaction).
 *
 * @example
 * ```ts
 * import type { MessageEvent } from "../../platforms/event.ts";
 * import type { Tx } from "./database.ts";
 * declare const tx: Tx, event: MessageEvent;
 * const journal = new PgInboundJournal();
 * const entry = await journal.accept(tx, event, "agent:main:local:dm:alice");
 * if (entry) await journal.finish(tx, entry.id, "done", "replied");
 * ```
 */
export class PgInboundJournal {
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  /** Journals `event`; undefined when this message was journaled already. */
  async accept(tx: Tx, event: MessageEvent, sessionKey: string): Promise<InboundEntry | undefined> {
    // A message joining one journaled before is a repeat: the adapter sends its pieces alone.
    const joined = (event.joinedIds ?? []).map((id) => dedupId(joinedPiece(event, id)));
    if (joined.length > 0) {
      const [seen] =
        await tx`SELECT 1 FROM inbound_journal WHERE platform = ${event.source.platform}
        AND message_id = ANY(${joined}::text[]) LIMIT 1`;
      if (seen) return undefined;
    }
    const [row] = await tx`
      INSERT INTO inbound_journal (platform, message_id, session_key, event, received_at)
      VALUES (${event.source.platform}, ${dedupId(event)}, ${sessionKey},
        ${asJson(tx, event)}, ${event.receivedAt})
      ON CONFLICT (platform, message_id) DO NOTHING RETURNING id`;
    if (!row) return undefined;
    for (const id of event.joinedIds ?? []) {
      const piece = joinedPiece(event, id);
      await tx`
        INSERT INTO inbound_journal
          (platform, message_id, session_key, event, received_at, state, outcome, finished_at)
        VALUES (${event.source.platform}, ${dedupId(piece)}, ${sessionKey},
          ${asJson(tx, piece)}, ${event.receivedAt}, 'done', 'joined', ${this.#at()})
        ON CONFLICT (platform, message_id) DO NOTHING`;
    }
    return {
      id: Number(row.id),
      sessionKey,
      event,
      state: "pending",
      attempts: 0,
      transcriptId: null,
    };
  }

  /** Journals an entry finished at once (an operator's message); returns its id. */
  async recordFinished(
    tx: Tx,
    event: MessageEvent,
    sessionKey: string,
    outcome: string,
  ): Promise<number> {
    const [row] = await tx`
      INSERT INTO inbound_journal
        (platform, message_id, session_key, event, received_at, state, outcome, finished_at)
      VALUES (${event.source.platform}, ${event.messageId}, ${sessionKey},
        ${asJson(tx, event)}, ${event.receivedAt}, 'done', ${outcome}, ${this.#at()})
      RETURNING id`;
    return Number(row!.id);
  }

  /** The source of the newest message journaled from chat `chatId` of `platform` (operators' left out). */
  async newestSource(
    q: Queryable,
    platform: string,
    chatId: string,
  ): Promise<SessionSource | undefined> {
    const [row] = await q`
      SELECT event FROM inbound_journal
      WHERE platform = ${platform} AND event -> 'source' ->> 'chatId' = ${chatId}
        AND NOT starts_with(message_id, ${OPERATOR_MESSAGE_PREFIX})
      ORDER BY id DESC LIMIT 1`;
    return row ? (row.event as MessageEvent).source : undefined;
  }

  /** Counts one more turn for the entry; returns the new count. */
  async attempt(tx: Tx, id: number): Promise<number> {
    const [row] = await tx`
      UPDATE inbound_journal SET attempts = attempts + 1 WHERE id = ${id} RETURNING attempts`;
    return Number(row?.attempts ?? 0);
  }

  /** Whether the entry's user message is in a transcript (undefined: no such entry). */
  async isTranscribed(tx: Tx, id: number): Promise<boolean | undefined> {
    // Locked: two turns of one entry at once (two gateways) store its text once.
    const [row] = await tx`SELECT transcript_id FROM inbound_journal WHERE id = ${id} FOR UPDATE`;
    return row && row.transcript_id !== null;
  }

  /** Records the transcript id of the entry's user message. */
  async transcribed(tx: Tx, id: number, transcriptId: number): Promise<void> {
    await tx`UPDATE inbound_journal SET transcript_id = ${transcriptId} WHERE id = ${id}`;
  }

  /** Marks the entry finished. */
  async finish(tx: Tx, id: number, state: "done" | "failed", outcome: string): Promise<void> {
    await tx`UPDATE inbound_journal SET state = ${state}, outcome = ${outcome},
      finished_at = ${this.#at()} WHERE id = ${id}`;
  }

  /**
   * Finishes `id` with the answer queued in the same transaction, unless it
   * is finished already (another gateway of the pool answered it after this
   * one lost the bot's lease): then throws, and the transaction, with the
   * parts it queued, is rolled back.
   */
  async finishAnswered(
    tx: Tx,
    id: number,
    state: "done" | "failed",
    outcome: string,
  ): Promise<void> {
    const rows = await tx`UPDATE inbound_journal SET state = ${state}, outcome = ${outcome},
      finished_at = ${this.#at()} WHERE id = ${id} AND state NOT IN ('done', 'failed')
      RETURNING id`;
    if (rows.length === 0) {
      throw new HermesError(
        "already_finished",
        `Cannot answer message ${id}: it was answered or given up already (by another gateway of the pool); this answer is dropped`,
      );
    }
  }

  /** Marks pending entries as cut off by a drain. */
  async interrupt(tx: Tx, ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await tx`UPDATE inbound_journal SET state = 'interrupted'
      WHERE id = ANY(${[...ids]}::bigint[]) AND state = 'pending'`;
  }

  /** Entries never finished nor interrupted, oldest first. */
  pending(q: Queryable): Promise<InboundEntry[]> {
    return this.#select(q`
      SELECT id, session_key, event, state, attempts, transcript_id FROM inbound_journal
      WHERE state = 'pending' ORDER BY id`);
  }

  /** Entries of `sessionKey` cut off by a drain, oldest first. */
  interrupted(q: Queryable, sessionKey: string): Promise<InboundEntry[]> {
    return this.#select(q`
      SELECT id, session_key, event, state, attempts, transcript_id FROM inbound_journal
      WHERE state = 'interrupted' AND session_key = ${sessionKey} ORDER BY id`);
  }

  /** The entry with `id`. */
  async get(q: Queryable, id: number): Promise<InboundEntry | undefined> {
    return (await this.#select(q`
      SELECT id, session_key, event, state, attempts, transcript_id FROM inbound_journal
      WHERE id = ${id}`))[0];
  }

  /**
   * Deletes up to `limit` entries received before `before` that are
   * finished, or were cut off by a drain and never resumed, unless a part
   * of their reply is still to be delivered (ids come from a sequence:
   * never reused).
   */
  async prune(tx: Tx, before: Date, limit: number): Promise<number> {
    const result = await tx`DELETE FROM inbound_journal WHERE id IN (
      SELECT id FROM inbound_journal j WHERE ${prunable(tx, before)} LIMIT ${limit})`;
    return result.count;
  }

  /** How many entries {@linkcode PgInboundJournal.prune} would delete. */
  async prunable(q: Queryable, before: Date): Promise<number> {
    const [row] = await q`SELECT count(*) AS n FROM inbound_journal j WHERE ${prunable(q, before)}`;
    return Number(row!.n);
  }

  #at(): string {
    return this.#now().toISOString();
  }

  async #select(rows: Promise<readonly Record<string, unknown>[]>): Promise<InboundEntry[]> {
    return (await rows as unknown as Row[]).map((row) => ({
      id: Number(row.id),
      sessionKey: row.session_key,
      event: row.event,
      state: row.state,
      attempts: Number(row.attempts),
      transcriptId: row.transcript_id === null ? null : Number(row.transcript_id),
    }));
  }
}

/** The condition on journal entry `j` of a prune before `before`. */
function prunable(q: Queryable, before: Date) {
  return q`j.state IN ('done', 'failed', 'interrupted') AND j.received_at < ${before.toISOString()}
    AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.inbound_id = j.id
      AND o.state NOT IN ('sent', 'undeliverable'))`;
}
