/**
 * Transcripts on PostgreSQL: every message of every session, searchable as
 * soon as it is committed. Three indexes serve different queries: the word
 * vector (a `tsvector` column, ranked by `ts_rank`, for space-separated
 * languages), trigrams (`pg_trgm`, any substring of 3+ characters with
 * ILIKE, CJK included) and CJK character pairs (an array of two-character
 * words, for the two-character Chinese, Japanese or Korean words trigrams
 * cannot find). Other queries are the same ILIKE, scanning.
 *
 * @module
 */

import type { Attachment } from "../../platforms/event.ts";
import type {
  Audience,
  ChatMessage,
  MessageKind,
  Role,
  SearchHit,
  SearchOptions,
  StoredMessage,
} from "../state_store.ts";
import { cjkBigrams, hasCjk } from "../_cjk.ts";
import { highlight } from "../_highlight.ts";
import type { Queryable, Tx } from "./database.ts";
import { asJson, textOf } from "./_values.ts";

/** A message to store. */
export interface PgNewMessage {
  readonly sessionId: number;
  readonly platform: string;
  readonly role: Role;
  readonly text: string;
  readonly sender?: string;
  readonly at?: Date;
  /** Default `chat`. */
  readonly kind?: MessageKind;
  readonly attachments?: readonly Attachment[];
}

/** The columns of a stored message (not the search columns). */
const COLUMNS =
  "m.id, m.session_id, m.platform, m.role, m.sender, m.text, m.created_at, m.kind, m.attachments";

/**
 * Appends to and searches transcripts.
 *
 * @example
 * ```ts
 * import type { Sql, Tx } from "./database.ts";
 * declare const sql: Sql, tx: Tx;
 * const transcripts = new PgTranscriptStore();
 * await transcripts.append(tx, { sessionId: 1, platform: "local", role: "user", text: "今天天气很好" });
 * await transcripts.search(sql, "天气"); // one hit, snippet "今天[天气]很好"
 * ```
 */
export class PgTranscriptStore {
  /** Stores a message and counts it in its session; returns its id. */
  async append(tx: Tx, message: PgNewMessage): Promise<number> {
    const text = textOf(message.text);
    const grams = cjkBigrams(text);
    const [row] = await tx`
      INSERT INTO messages (session_id, platform, role, sender, text, created_at, kind,
        attachments, grams)
      VALUES (${message.sessionId}, ${message.platform}, ${message.role},
        ${message.sender ?? null}, ${text}, ${(message.at ?? new Date()).toISOString()},
        ${message.kind ?? "chat"},
        ${message.attachments?.length ? asJson(tx, message.attachments) : null},
        ${grams ? grams.split(" ") : null})
      RETURNING id`;
    await tx`UPDATE sessions SET message_count = message_count + 1
      WHERE id = ${message.sessionId}`;
    return Number(row!.id);
  }

  /** The last `limit` messages of a session, oldest first, for `audience` (default the agent). */
  async history(
    q: Queryable,
    sessionId: number,
    limit = 50,
    options: { audience?: Audience } = {},
  ): Promise<StoredMessage[]> {
    const rows = options.audience === "people"
      ? await q.unsafe(
        `SELECT ${COLUMNS} FROM messages m WHERE m.session_id = $1 ORDER BY m.id DESC LIMIT $2`,
        [sessionId, limit],
      )
      : await q.unsafe(
        `SELECT ${COLUMNS} FROM messages m WHERE m.session_id = $1 AND m.kind = 'chat'
         ORDER BY m.id DESC LIMIT $2`,
        [sessionId, limit],
      );
    return rows.reverse().map((row) => message<StoredMessage>(row));
  }

  /** The last `limit` messages of a chat across all its sessions, oldest first. */
  async chatHistory(
    q: Queryable,
    chat: { platform: string; chatType: string; chatId: string },
    limit = 200,
  ): Promise<ChatMessage[]> {
    const rows = await q.unsafe(
      `SELECT ${COLUMNS}, s.user_id AS session_user
       FROM messages m JOIN sessions s ON s.id = m.session_id
       WHERE s.platform = $1 AND s.chat_type = $2 AND s.chat_id = $3 ORDER BY m.id DESC LIMIT $4`,
      [chat.platform, chat.chatType, chat.chatId, limit],
    );
    return rows.reverse().map((row) => message<ChatMessage>(row));
  }

  /**
   * Messages matching every term of `query` (separated by spaces), best
   * first: words by the word vector; a two-character CJK term by the pairs;
   * anything else by ILIKE (the trigram index serves terms of 3+ characters).
   */
  async search(q: Queryable, query: string, options: SearchOptions = {}): Promise<SearchHit[]> {
    const terms = query.trim().split(/\s+/).filter((t) => t !== "").map(textOf);
    if (terms.length === 0) return [];
    const limit = Math.max(1, Math.trunc(options.limit ?? 20));
    const params: unknown[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    const platform = param(options.platform ?? null);
    const filter = `AND (${platform}::text IS NULL OR m.platform = ${platform}::text)`;
    const from = `FROM messages m JOIN sessions s ON s.id = m.session_id`;

    if (!terms.some(hasCjk)) {
      // Each term a phrase ("don't": its words in a row), all of them required.
      const tsquery = terms.map((t) => `phraseto_tsquery('simple', ${param(t)})`).join(" && ");
      const rows = await q.unsafe(
        `WITH query AS (SELECT ${tsquery} AS q)
         SELECT ${COLUMNS}, s.key AS session_key,
           ts_headline('simple', m.text, query.q,
             'StartSel="[", StopSel="]", MaxWords=12, MinWords=4')
             AS snippet
         ${from}, query WHERE m.words @@ query.q ${filter}
         ORDER BY ts_rank(m.words, query.q) DESC, m.id DESC LIMIT ${param(limit)}`,
        params as never[],
      );
      return rows.map((row) =>
        message<SearchHit>({ ...row, snippet: elided(String(row.snippet), String(row.text)) })
      );
    }
    const pair = terms.length === 1 && [...terms[0]!].length === 2 &&
      cjkBigrams(terms[0]!) === terms[0];
    const where = pair ? `m.grams @> ARRAY[${param(terms[0])}::text]` : terms
      .map((t) => `m.text ILIKE ${param(`%${t.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)}`)
      .join(" AND ");
    const rows = await q.unsafe(
      `SELECT ${COLUMNS}, s.key AS session_key ${from}
       WHERE ${where} ${filter} ORDER BY m.id DESC LIMIT ${param(limit)}`,
      params as never[],
    );
    return rows.map((row) =>
      message<SearchHit>({ ...row, snippet: highlight(String(row.text), terms) })
    );
  }
}

/** `snippet` (a piece of `text` with marks) with `…` where it cuts `text` short, as SQLite's are. */
function elided(snippet: string, text: string): string {
  const plain = snippet.replace(/[[\]]/g, "");
  const at = text.indexOf(plain);
  if (at < 0) return snippet;
  return `${at > 0 ? "…" : ""}${snippet}${at + plain.length < text.length ? "…" : ""}`;
}

/** A row as a message: plain fields, numbers as numbers, attachments as an array. */
function message<T>(row: Record<string, unknown>): T {
  return {
    ...row,
    id: Number(row.id),
    session_id: Number(row.session_id),
    attachments: (row.attachments as Attachment[] | null) ?? [],
  } as T;
}
