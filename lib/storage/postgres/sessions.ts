/**
 * Sessions on PostgreSQL: one open session per key (a partial unique
 * index, so two gateways opening one key at once get the same session); a
 * reset ends it and the next message opens a new one.
 *
 * @module
 */

import type { SessionSource } from "../../platforms/event.ts";
import type { SessionRecord } from "../state_store.ts";
import type { Queryable, Tx } from "./database.ts";

/**
 * Reads and writes sessions (the caller passes the transaction).
 *
 * @example
 * ```ts
 * import type { SessionSource } from "../../platforms/event.ts";
 * import type { Tx } from "./database.ts";
 * declare const tx: Tx, source: SessionSource;
 * const sessions = new PgSessionStore();
 * const session = await sessions.open(tx, "agent:main:local:dm:alice", source);
 * ```
 */
export class PgSessionStore {
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  /** The open session of `key`, created when there is none. */
  async open(tx: Tx, key: string, source: SessionSource): Promise<SessionRecord> {
    const at = this.#now().toISOString();
    await tx`
      INSERT INTO sessions (key, platform, chat_type, chat_id, thread_id, user_id, started_at, updated_at)
      VALUES (${key}, ${source.platform}, ${source.chatType}, ${source.chatId},
        ${source.threadId ?? null}, ${source.userId ?? null}, ${at}, ${at})
      ON CONFLICT (key) WHERE ended_at IS NULL DO NOTHING`;
    return (await this.findOpen(tx, key))!;
  }

  /** The open session of `key`, if any. */
  async findOpen(q: Queryable, key: string): Promise<SessionRecord | undefined> {
    return record((await q`SELECT * FROM sessions WHERE key = ${key} AND ended_at IS NULL`)[0]);
  }

  /** Marks activity on a session. */
  async touch(tx: Tx, id: number): Promise<void> {
    await tx`UPDATE sessions SET updated_at = ${this.#now().toISOString()} WHERE id = ${id}`;
  }

  /** Ends a session; its transcript stays. */
  async end(tx: Tx, id: number, reason: string): Promise<void> {
    await tx`UPDATE sessions SET ended_at = ${this.#now().toISOString()}, end_reason = ${reason}
      WHERE id = ${id} AND ended_at IS NULL`;
  }

  /** Sessions, most recently active first. */
  async list(
    q: Queryable,
    options: { limit?: number; includeEnded?: boolean } = {},
  ): Promise<SessionRecord[]> {
    const limit = options.limit ?? 100;
    const rows = options.includeEnded
      ? await q`SELECT * FROM sessions ORDER BY updated_at DESC, id DESC LIMIT ${limit}`
      : await q`SELECT * FROM sessions WHERE ended_at IS NULL
          ORDER BY updated_at DESC, id DESC LIMIT ${limit}`;
    return rows.map((row) => record(row)!);
  }

  /** The most recently active session of chat `chatId` of `platform`, open or ended. */
  async newestOfChat(
    q: Queryable,
    platform: string,
    chatId: string,
  ): Promise<SessionRecord | undefined> {
    return record(
      (await q`SELECT * FROM sessions WHERE platform = ${platform} AND chat_id = ${chatId}
        ORDER BY updated_at DESC, id DESC LIMIT 1`)[0],
    );
  }

  /** Up to `limit` open sessions with an id above `afterId`, by id (the reset sweep's walk). */
  async openAfter(q: Queryable, afterId: number, limit: number): Promise<SessionRecord[]> {
    return (await q`SELECT * FROM sessions WHERE ended_at IS NULL AND id > ${afterId}
      ORDER BY id LIMIT ${limit}`).map((row) => record(row)!);
  }

  /** Every session that had `key`, newest first. */
  async history(q: Queryable, key: string): Promise<SessionRecord[]> {
    return (await q`SELECT * FROM sessions WHERE key = ${key} ORDER BY id DESC`)
      .map((row) => record(row)!);
  }
}

/** A row as a plain record (the driver's rows carry more than their columns). */
function record(row: Record<string, unknown> | undefined): SessionRecord | undefined {
  if (!row) return undefined;
  return { ...row, id: Number(row.id), message_count: Number(row.message_count) } as SessionRecord;
}
