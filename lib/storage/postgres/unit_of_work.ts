/**
 * Units of work on PostgreSQL and what a lost connection does to them: a
 * unit is a transaction on a connection of its own; when the connection is
 * lost, the unit is tried again on a new one where that is safe (a read; a
 * write that had not reached its COMMIT), and otherwise rejected with a
 * {@linkcode StoreConnectionError}.
 *
 * @module
 */

import { HermesError } from "../../errors.ts";
import { ExitCode } from "../../process/exit_codes.ts";
import type { PgPool } from "./pool.ts";
import type { Sql, Tx } from "./database.ts";

/**
 * The database is out of reach: the connection was lost or could not be
 * made. A unit of work that fails with it was not done, or (`unknown`) its
 * commit was sent and its outcome is not known; the pool reconnects for the
 * next one.
 *
 * @example
 * ```ts
 * import type { MessageEvent } from "../../platforms/event.ts";
 * import type { StateStore } from "../state_store.ts";
 * import type { Logger } from "../../util/log.ts";
 * declare const store: StateStore, event: MessageEvent, key: string, log: Logger;
 * try {
 *   await store.acceptInbound(event, key);
 * } catch (error) {
 *   if (error instanceof StoreConnectionError) log.warn("database unreachable", { error });
 * }
 * ```
 */
export class StoreConnectionError extends HermesError {
  /** Whether the unit's commit was sent before the connection went (it may have been done). */
  readonly unknown: boolean;

  constructor(message: string, options: { cause?: unknown; unknown?: boolean } = {}) {
    super("store_unavailable", message, {
      cause: options.cause,
      exitCode: ExitCode.Restart,
    });
    this.name = "StoreConnectionError";
    this.unknown = options.unknown ?? false;
  }
}

/** Errors of the link, not of the statement: the server went, or could not be reached. */
const LINK_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  // The server ended the session: an administrator's or a crash's shutdown, not yet accepting.
  "57P01",
  "57P02",
  "57P03",
]);

/** Whether `error` is a lost or impossible connection (SQLSTATE class 08 included). */
export function isConnectionLoss(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return error instanceof Deno.errors.ConnectionRefused;
  return LINK_CODES.has(code) || code.startsWith("08");
}

/** Link errors that come before anything reached the server: always safe to try again. */
const BEFORE_CONNECTED = new Set([
  "ECONNREFUSED",
  "CONNECT_TIMEOUT",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "57P03",
]);

/**
 * Tries of one unit of work when its connection is lost. A killed
 * connection may fail two in a row (the query in flight, then the next one
 * reads the server's goodbye), so a single loss never exhausts them.
 */
const TRIES = 5;
/** The pause before each further try, so a pool that lost its connections opens new ones. */
const PAUSES_MS = [20, 100, 500, 1_000];

/**
 * Runs `work`; when its connection is lost, tries again (with a new
 * connection from the pool) if that is safe: `idempotent` work (a read)
 * always, other work when `work` reports that it had not reached its commit.
 * Otherwise, and after the last try, rejects with a StoreConnectionError.
 *
 * @example
 * ```ts
 * import type { PgPool } from "./pool.ts";
 * declare const pool: PgPool;
 * const rows = await retrying(() => pool.use((sql) => sql`SELECT 1`), { idempotent: true, what: "Cannot read" });
 * ```
 */
export async function retrying<T>(
  work: (progress: { committing: boolean }) => Promise<T>,
  options: { idempotent: boolean; what: string },
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    const progress = { committing: false };
    try {
      return await work(progress);
    } catch (error) {
      if (!isConnectionLoss(error)) throw error;
      const code = String((error as { code?: unknown }).code ?? "");
      const safe = options.idempotent || !progress.committing || BEFORE_CONNECTED.has(code);
      if (!safe || attempt >= TRIES) {
        const unknown = !safe;
        const what = BEFORE_CONNECTED.has(code)
          ? "cannot connect to the database server"
          : "the database connection was lost";
        throw new StoreConnectionError(
          `${options.what}: ${what} (${describe(error)})${
            unknown ? "; the last write may or may not have been committed" : ""
          }; check that PostgreSQL runs and that storage.url (HERMES_DATABASE_URL) names it`,
          { cause: error, unknown },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, PAUSES_MS[attempt - 1] ?? 1_000));
    }
  }
}

/**
 * Runs `work` as one transaction on the pool, retried as {@linkcode retrying} says.
 *
 * @example
 * ```ts
 * import type { PgPool } from "./pool.ts";
 * declare const pool: PgPool, at: string, id: number;
 * await unitOfWork(pool, (tx) => tx`UPDATE sessions SET updated_at = ${at} WHERE id = ${id}`);
 * ```
 */
export function unitOfWork<T>(pool: PgPool, work: (tx: Tx) => Promise<T>): Promise<T> {
  return retrying(
    (progress) => pool.use((sql) => transaction(sql, work, progress)),
    { idempotent: false, what: "Cannot write the state" },
  );
}

/**
 * Runs `work` between BEGIN and COMMIT on a connection of its own;
 * `progress.committing` turns true once the COMMIT may have reached the
 * server. Not the driver's `sql.begin`: after a lost connection that one
 * still sends ROLLBACK down it, and npm:postgres 3.4.9 then writes to a
 * socket it has already dropped, an exception no caller can catch that
 * ends the process. Here a connection that was lost is never used again
 * nor handed back (the pool has marked it closed and reconnects it).
 *
 * @example
 * ```ts
 * import type { Sql } from "./database.ts";
 * declare const sql: Sql, at: string, id: number;
 * await transaction(sql, (tx) => tx`UPDATE sessions SET updated_at = ${at} WHERE id = ${id}`);
 * ```
 */
export async function transaction<T>(
  sql: Sql,
  work: (tx: Tx) => Promise<T>,
  progress: { committing: boolean } = { committing: false },
): Promise<T> {
  const tx = await sql.reserve() as unknown as Tx;
  let lost = false;
  try {
    await tx`BEGIN`;
    const result = await work(tx);
    progress.committing = true;
    await tx`COMMIT`;
    return result;
  } catch (error) {
    lost = isConnectionLoss(error);
    if (!lost && !progress.committing) {
      await tx`ROLLBACK`.catch((rollback) => void (lost = isConnectionLoss(rollback)));
    }
    throw error;
  } finally {
    if (!lost) tx.release();
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = messageOf(error);
  return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
