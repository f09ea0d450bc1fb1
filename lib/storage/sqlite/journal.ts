/**
 * The inbound journal: a message accepted from a platform is written here
 * (durably) before anything else happens, and is marked finished only after
 * its reply was delivered or definitively failed. Its unique
 * (platform, {@linkcode dedupId}) also drops repeats the platform sends.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { cached } from "./database.ts";
import type { MessageEvent, SessionSource } from "../../platforms/event.ts";
import type { InboundEntry, InboundState } from "../state_store.ts";
import { dedupId, joinedPiece as piece, OPERATOR_MESSAGE_PREFIX } from "../dedup_id.ts";

export { dedupId, OPERATOR_MESSAGE_PREFIX } from "../dedup_id.ts";

interface Row {
  id: number;
  session_key: string;
  event: string;
  state: InboundState;
  attempts: number;
  transcript_id: number | null;
}

/**
 * Reads and writes the inbound journal.
 *
 * @example
 * ```ts
 * import type { DatabaseSync } from "node:sqlite";
 * import type { MessageEvent } from "../../platforms/event.ts";
 * declare const db: DatabaseSync, event: MessageEvent;
 * const journal = new InboundJournal(db);
 * const entry = journal.accept(event, "agent:main:local:dm:alice");
 * if (entry) journal.finish(entry.id, "done", "replied");
 * ```
 */
export class InboundJournal {
  readonly #db: DatabaseSync;
  readonly #now: () => Date;

  constructor(db: DatabaseSync, now: () => Date = () => new Date()) {
    this.#db = db;
    this.#now = now;
  }

  /**
   * Journals `event`; undefined when the platform already sent this message
   * id (an edit: this id with this text).
   */
  accept(event: MessageEvent, sessionKey: string): InboundEntry | undefined {
    if (this.#anyJoinedSeen(event)) return undefined;
    const result = cached(
      this.#db,
      `INSERT INTO inbound_journal (platform, message_id, session_key, event, received_at)
       VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, message_id) DO NOTHING`,
    ).run(
      event.source.platform,
      dedupId(event),
      sessionKey,
      JSON.stringify(event),
      event.receivedAt,
    );
    if (result.changes === 0) return undefined;
    const id = Number(result.lastInsertRowid);
    for (const joined of event.joinedIds ?? []) this.#recordJoined(event, joined, sessionKey);
    return {
      id,
      sessionKey,
      event,
      state: "pending",
      attempts: 0,
      transcriptId: null,
    };
  }

  /** Whether a message `event` joins was journaled already (it was answered, alone or joined). */
  #anyJoinedSeen(event: MessageEvent): boolean {
    const lookup = cached(
      this.#db,
      "SELECT 1 FROM inbound_journal WHERE platform = ? AND message_id = ?",
    );
    return (event.joinedIds ?? []).some((joined) =>
      lookup.get(event.source.platform, dedupId(piece(event, joined))) !== undefined
    );
  }

  /** Marks `joinedId` as seen: a message that is part of `event`, never answered on its own. */
  #recordJoined(event: MessageEvent, joinedId: string, sessionKey: string): void {
    const joined = piece(event, joinedId);
    cached(
      this.#db,
      `INSERT INTO inbound_journal
         (platform, message_id, session_key, event, received_at, state, outcome, finished_at)
       VALUES (?, ?, ?, ?, ?, 'done', 'joined', ?) ON CONFLICT (platform, message_id) DO NOTHING`,
    ).run(
      event.source.platform,
      dedupId(joined),
      sessionKey,
      JSON.stringify(joined),
      event.receivedAt,
      this.#now().toISOString(),
    );
  }

  /**
   * Journals an entry that is finished at once: a message no platform sent
   * (an operator's, `hermes send`), so it is never replayed nor answered.
   * Returns its id.
   */
  recordFinished(event: MessageEvent, sessionKey: string, outcome: string): number {
    const at = this.#now().toISOString();
    const result = cached(
      this.#db,
      `INSERT INTO inbound_journal
         (platform, message_id, session_key, event, received_at, state, outcome, finished_at)
       VALUES (?, ?, ?, ?, ?, 'done', ?, ?)`,
    ).run(
      event.source.platform,
      event.messageId,
      sessionKey,
      JSON.stringify(event),
      event.receivedAt,
      outcome,
      at,
    );
    return Number(result.lastInsertRowid);
  }

  /**
   * The source of the newest message journaled from chat `chatId` of
   * `platform` (operators' messages left out: they only repeat a guess).
   */
  newestSource(platform: string, chatId: string): SessionSource | undefined {
    const row = cached(
      this.#db,
      `SELECT event FROM inbound_journal
       WHERE platform = ? AND json_extract(event, '$.source.chatId') = ?
         AND substr(message_id, 1, ${OPERATOR_MESSAGE_PREFIX.length}) <> ?
       ORDER BY id DESC LIMIT 1`,
    ).get(platform, chatId, OPERATOR_MESSAGE_PREFIX) as { event: string } | undefined;
    return row ? (JSON.parse(row.event) as MessageEvent).source : undefined;
  }

  /** Counts one more turn for the entry; returns the new count. */
  attempt(id: number): number {
    const row = cached(
      this.#db,
      "UPDATE inbound_journal SET attempts = attempts + 1 WHERE id = ? RETURNING attempts",
    ).get(id) as { attempts: number } | undefined;
    return row?.attempts ?? 0;
  }

  /** Whether the entry's user message is in a transcript (undefined: no such entry). */
  isTranscribed(id: number): boolean | undefined {
    const row = cached(this.#db, "SELECT transcript_id FROM inbound_journal WHERE id = ?")
      .get(id) as { transcript_id: number | null } | undefined;
    return row && row.transcript_id !== null;
  }

  /** Records the transcript id of the entry's user message. */
  transcribed(id: number, transcriptId: number): void {
    cached(this.#db, "UPDATE inbound_journal SET transcript_id = ? WHERE id = ?")
      .run(transcriptId, id);
  }

  /** Marks the entry finished. */
  finish(id: number, state: "done" | "failed", outcome: string): void {
    cached(
      this.#db,
      "UPDATE inbound_journal SET state = ?, outcome = ?, finished_at = ? WHERE id = ?",
    ).run(state, outcome, this.#now().toISOString(), id);
  }

  /** Marks unfinished entries as cut off by a drain (resumed on the session's next message). */
  interrupt(ids: readonly number[]): void {
    const statement = cached(
      this.#db,
      "UPDATE inbound_journal SET state = 'interrupted' WHERE id = ? AND state = 'pending'",
    );
    for (const id of ids) statement.run(id);
  }

  /** Entries never finished nor interrupted (a crash left them), oldest first. */
  pending(): InboundEntry[] {
    // Without statistics, SQLite would rather scan every entry than use the partial index.
    return this.#select("state = 'pending'", [], "INDEXED BY inbound_pending");
  }

  /** Entries of `sessionKey` cut off by a drain, oldest first. */
  interrupted(sessionKey: string): InboundEntry[] {
    return this.#select("state = 'interrupted' AND session_key = ?", [sessionKey]);
  }

  /** The entry with `id`. */
  get(id: number): InboundEntry | undefined {
    return this.#select("id = ?", [id])[0];
  }

  /**
   * Deletes up to `limit` entries received before `before` that are
   * finished, or were cut off by a drain and never resumed (dedup needs only
   * recent ids), unless a part of their reply is still to be delivered (it
   * needs the entry's reply context); returns how many.
   */
  prune(before: Date, limit = -1): number {
    return Number(
      cached(
        this.#db,
        // The newest row stays: SQLite numbers a new row after the highest id left, and an
        // id used again would give a new reply the keys (inbound:<id>#<part>) of an old one.
        `DELETE FROM inbound_journal WHERE id IN (SELECT id FROM inbound_journal ${PRUNABLE} LIMIT ?)`,
      ).run(before.toISOString(), limit).changes,
    );
  }

  /** How many entries {@linkcode InboundJournal.prune} would delete. */
  prunable(before: Date): number {
    const row = cached(this.#db, `SELECT count(*) AS n FROM inbound_journal ${PRUNABLE}`)
      .get(before.toISOString()) as { n: number };
    return Number(row.n);
  }

  #select(where: string, params: (string | number)[], indexedBy = ""): InboundEntry[] {
    const rows = cached(
      this.#db,
      `SELECT id, session_key, event, state, attempts, transcript_id FROM inbound_journal
       ${indexedBy} WHERE ${where} ORDER BY id`,
    ).all(...params) as unknown as Row[];
    return rows.map((row) => ({
      id: row.id,
      sessionKey: row.session_key,
      event: JSON.parse(row.event) as MessageEvent,
      state: row.state,
      attempts: row.attempts,
      transcriptId: row.transcript_id,
    }));
  }
}

/** The entries a prune removes (the one parameter: received before). */
const PRUNABLE = `WHERE state IN ('done', 'failed', 'interrupted') AND received_at < ?
  AND id < (SELECT max(id) FROM inbound_journal)
  AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.inbound_id = inbound_journal.id
    AND outbox.state NOT IN ('sent', 'undeliverable'))`;
