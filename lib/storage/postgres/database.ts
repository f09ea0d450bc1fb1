/**
 * Opening the PostgreSQL state: a bounded connection pool (`npm:postgres`)
 * on a `postgres://` URL, migrations versioned in `schema_migrations` and
 * applied under an advisory lock (two gateways starting together: one
 * migrates, the other waits and finds them applied), and units of work as
 * transactions, with connection losses retried where that is safe and
 * otherwise turned into a {@linkcode StoreConnectionError}.
 *
 * @module
 */

import postgres from "postgres";
import { HermesError } from "../../errors.ts";
import { checkPostgresUrl, maskUrl } from "../database_url.ts";
import { PgPool } from "./pool.ts";
import { isConnectionLoss, retrying, transaction } from "./unit_of_work.ts";

/** The pool. */
export type Sql = postgres.Sql<Record<string, unknown>>;
/** A transaction's connection (what a unit of work writes through). */
export type Tx = postgres.ReservedSql<Record<string, unknown>>;
/** Either: what a read runs on. */
export type Queryable = Sql | Tx;

/** One step of the schema; `version` counts up from 1 without gaps. */
export interface PgMigration {
  readonly version: number;
  readonly name: string;
  /** SQL run inside the migration's transaction (several statements allowed). */
  readonly sql: string;
}

/** Options of {@linkcode openPostgres}. */
export interface PgOpenOptions {
  /** Connections at most (default 10). */
  readonly max?: number;
  /** Open for reading only: no migrations, every transaction read-only. */
  readonly readOnly?: boolean;
  /** Seconds to wait for a connection (default 10). */
  readonly connectTimeout?: number;
}

/** The advisory lock key migrations are applied under (any fixed 64-bit number). */
const MIGRATION_LOCK = 0x6865726d6573; // "hermes"

/**
 * Opens a pool ({@linkcode PgPool}) on `url` and migrates the database (unless read-only).
 * Throws a {@linkcode StoreConnectionError} when the server cannot be
 * reached, a HermesError when the schema is newer than this hermes or a
 * migration fails.
 *
 * @example
 * ```ts
 * import { PG_MIGRATIONS } from "./migrations.ts";
 * const pool = await openPostgres("postgres://hermes@127.0.0.1:5432/hermes", PG_MIGRATIONS);
 * await pool.end();
 * ```
 */
export async function openPostgres(
  url: string,
  migrations: readonly PgMigration[],
  options: PgOpenOptions = {},
): Promise<PgPool> {
  checkPostgresUrl(url);
  const pool = new PgPool(() =>
    postgres(url, {
      max: options.max ?? 10,
      connect_timeout: options.connectTimeout ?? 10,
      onnotice: () => {},
      // Ids and counts are int8: numbers here (ids stay far below 2^53).
      types: {
        bigint: {
          to: 20,
          from: [20],
          serialize: (value: number) => String(value),
          parse: (value: string) => Number(value),
        },
      },
      connection: {
        application_name: "hermes",
        ...(options.readOnly ? { default_transaction_read_only: true } : {}),
      },
    }) as unknown as Sql, isConnectionLoss);
  try {
    await retrying(
      () => pool.use((sql) => migrate(sql, url, migrations, options.readOnly ?? false)),
      { idempotent: true, what: `Cannot open the database at ${maskUrl(url)}` },
    );
    return pool;
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/** The schema version the database holds (0: none yet). */
export async function pgSchemaVersion(sql: Queryable): Promise<number> {
  const [table] = await sql`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`;
  if (!table?.present) return 0;
  const [row] = await sql`SELECT coalesce(max(version), 0)::int AS version FROM schema_migrations`;
  return Number(row?.version ?? 0);
}

async function migrate(
  sql: Sql,
  url: string,
  migrations: readonly PgMigration[],
  readOnly: boolean,
): Promise<void> {
  const known = migrations.at(-1)?.version ?? 0;
  const tooNew = (current: number) =>
    new HermesError(
      "store_too_new",
      `Cannot use the database at ${
        maskUrl(url)
      }: it was written by a newer hermes (schema ${current}, this one knows ${known}); upgrade hermes`,
    );
  if (readOnly) {
    const current = await pgSchemaVersion(sql);
    if (current > known) throw tooNew(current);
    if (current === 0) {
      throw new HermesError(
        "store_empty",
        `Cannot read the database at ${
          maskUrl(url)
        }: it holds no hermes state yet; start the gateway on it once (hermes gateway run), which creates it`,
      );
    }
    return;
  }
  await transaction(sql, async (tx) => {
    // Held to the end of this transaction: a second gateway waits here, then sees the rows.
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
    const current = await pgSchemaVersion(tx);
    if (current > known) throw tooNew(current);
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      try {
        await tx.unsafe(migration.sql).simple();
        await tx`INSERT INTO schema_migrations (version, name)
          VALUES (${migration.version}, ${migration.name})`;
      } catch (error) {
        if (isConnectionLoss(error)) throw error;
        throw new HermesError(
          "store_migration_failed",
          `Cannot migrate the database at ${
            maskUrl(url)
          } to schema ${migration.version} (${migration.name}): ${messageOf(error)}`,
          { cause: error },
        );
      }
    }
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
