/**
 * Opening `state.db`: SQLite through Deno's built-in `node:sqlite`, in WAL
 * mode (readers never wait for the writer), with a busy timeout (a second
 * process, such as the CLI reading while the gateway writes, waits instead of
 * failing) and versioned migrations applied in one transaction each.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { HermesError } from "../../errors.ts";

/** One step of the schema; `version` counts up from 1 without gaps. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** SQL run inside the migration's transaction. */
  readonly sql: string;
}

/** Options of {@linkcode openDatabase}. */
export interface OpenOptions {
  /** How long a statement waits for another process's lock. Default 5 s. */
  readonly busyTimeoutMs?: number;
  /**
   * Open for reading only: the file must exist and have exactly the schema of
   * `migrations` (never migrated; another version throws, naming the side to
   * upgrade or restart).
   */
  readonly readOnly?: boolean;
  /**
   * Whether an older schema is migrated (default true). False: a file of
   * another schema throws as for `readOnly` (a CLI that writes beside a
   * running gateway, perhaps of another version, must not migrate it).
   */
  readonly migrate?: boolean;
  /** SQLite's fsync policy for commits (default `full`: a power cut loses nothing committed). */
  readonly synchronous?: "full" | "normal";
}

/**
 * Opens (creating it with mode 0600 when missing) and migrates the database
 * at `path`. Throws a HermesError when the file was written by a newer hermes
 * or a migration fails; the database is then left as it was.
 *
 * @example
 * ```ts
 * import { STATE_MIGRATIONS } from "./migrations.ts";
 * using db = openDatabase("/srv/hermes/state.db", STATE_MIGRATIONS);
 * ```
 */
export function openDatabase(
  path: string,
  migrations: readonly Migration[],
  options: OpenOptions = {},
): DatabaseSync {
  if (!options.readOnly) createPrivately(path);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
  } catch (error) {
    throw new HermesError("store_unavailable", `Cannot open ${path}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5_000)}`);
    if (!options.readOnly) {
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`PRAGMA synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
    }
    db.exec("PRAGMA foreign_keys = ON");
    migrate(db, path, migrations, options.readOnly === true || options.migrate === false);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

const statements = new WeakMap<DatabaseSync, Map<string, StatementSync>>();

/**
 * The prepared statement of `sql` on `db`, prepared once and reused: every
 * `prepare()` keeps memory until the database closes, so a long-running
 * gateway must not prepare per message.
 *
 * @example
 * ```ts
 * import type { DatabaseSync } from "node:sqlite";
 * declare const db: DatabaseSync;
 * cached(db, "UPDATE sessions SET updated_at = ? WHERE id = ?").run(new Date().toISOString(), 1);
 * ```
 */
export function cached(db: DatabaseSync, sql: string): StatementSync {
  let byText = statements.get(db);
  if (!byText) statements.set(db, byText = new Map());
  let statement = byText.get(sql);
  if (!statement) byText.set(sql, statement = db.prepare(sql));
  return statement;
}

/** The text of every statement {@linkcode cached} has prepared on `db` (what a query-plan check reads). */
export function preparedSql(db: DatabaseSync): string[] {
  return [...statements.get(db)?.keys() ?? []];
}

/** The schema version stored in the database (`PRAGMA user_version`). */
export function schemaVersion(db: DatabaseSync): number {
  return Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
}

/**
 * Runs `work` in one transaction (BEGIN IMMEDIATE: the write lock is taken
 * up front, so two writers queue instead of deadlocking); rolls back on error.
 * Inside a transaction already, `work` simply joins it.
 */
export function transaction<T>(db: DatabaseSync, work: () => T): T {
  if (db.isTransaction) return work();
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}

function migrate(
  db: DatabaseSync,
  path: string,
  migrations: readonly Migration[],
  strict: boolean,
): void {
  const known = migrations.at(-1)?.version ?? 0;
  const current = schemaVersion(db);
  // A reader (the CLI beside a running gateway, perhaps of another version)
  // never migrates: it names the side to change and leaves the file alone.
  if (strict && current > known) {
    throw new HermesError(
      "store_too_new",
      `Cannot read ${path}: it has schema ${current}, this hermes reads ${known} (a newer hermes wrote it); upgrade hermes to the gateway's version`,
    );
  }
  if (strict && current < known) {
    throw new HermesError(
      "store_too_old",
      `Cannot read ${path}: it has schema ${current}, this hermes reads ${known} (an older gateway wrote it); restart the gateway with this version (it migrates) or use the matching hermes`,
    );
  }
  if (current > known) {
    throw new HermesError(
      "store_too_new",
      `Cannot use ${path}: it was written by a newer hermes (schema ${current}, this one knows ${known}); upgrade hermes`,
    );
  }
  if (strict) return;
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    try {
      transaction(db, () => {
        db.exec(migration.sql);
        db.exec(`PRAGMA user_version = ${migration.version}`);
      });
    } catch (error) {
      throw new HermesError(
        "store_migration_failed",
        `Cannot migrate ${path} to schema ${migration.version} (${migration.name}): ${
          messageOf(error)
        }`,
        { cause: error },
      );
    }
  }
}

function createPrivately(path: string): void {
  try {
    Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }).close();
    Deno.chmodSync(path, 0o600);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      throw new HermesError("store_unavailable", `Cannot create ${path}: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
