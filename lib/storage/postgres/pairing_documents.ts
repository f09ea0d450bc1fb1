/**
 * The pairing store's documents as rows of the shared PostgreSQL database
 * (`pairing_documents`), so a code one gateway of a pool issued is approved
 * from any host's CLI and the user is let in by whichever gateway serves
 * the bot. A change holds one transaction-wide advisory lock: changes from
 * every host are one at a time, like the flock of the files.
 *
 * @module
 */

import type { LockedPairingDocuments, PairingDocuments } from "../../auth/pairing_documents.ts";
import type { Logger } from "../../util/log.ts";
import { openPostgres, type Queryable, type Sql } from "./database.ts";
import { PG_MIGRATIONS } from "./migrations.ts";
import type { PgPool } from "./pool.ts";
import { retrying, unitOfWork } from "./unit_of_work.ts";

/** The advisory lock key pairing changes hold ("hp" for hermes pairing, then a fixed number). */
const PAIRING_LOCK = 0x6870_0001;

/**
 * The documents of the database at `url`, on a pool of their own (2
 * connections) opened at the first use.
 *
 * @example
 * ```ts
 * import { PairingStore } from "../../auth/pairing.ts";
 * const docs = new PgPairingDocuments("postgres://hermes@db.internal:5432/hermes");
 * const store = new PairingStore(docs);
 * await store.listPending();
 * await docs.close();
 * ```
 */
export class PgPairingDocuments implements PairingDocuments {
  readonly where = "the PostgreSQL database (storage.url)";
  readonly #url: string;
  readonly #readOnly: boolean;
  #pool: Promise<PgPool> | undefined;

  /** `readOnly`: for reading only (`hermes pair list`): no migrations, no writes. */
  constructor(url: string, options: { readOnly?: boolean } = {}) {
    this.#url = url;
    this.#readOnly = options.readOnly ?? false;
  }

  async locked<T>(change: (docs: LockedPairingDocuments) => Promise<T>): Promise<T> {
    return await unitOfWork(await this.#open(), async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${PAIRING_LOCK})`;
      return await change({
        read: (name) => readDocument(tx, name),
        write: async (name, value) => {
          await tx`
            INSERT INTO pairing_documents (name, body) VALUES (${name}, ${tx.json(value as never)})
            ON CONFLICT (name) DO UPDATE
            SET body = excluded.body, version = pairing_documents.version + 1`;
        },
      });
    });
  }

  /**
   * Rows are never malformed (only hermes writes them), so there is nothing
   * to read as empty: a database out of reach, after the retries, throws,
   * so that no empty list of approved users is taken for the real one.
   */
  async readOrEmpty<T>(name: string, _log?: Logger): Promise<T> {
    return await this.#reading("read pairing data", (sql) => readDocument<T>(sql, name));
  }

  async stamp(name: string): Promise<string> {
    const [row] = await this.#reading(
      "read pairing data",
      (sql) => sql`SELECT version FROM pairing_documents WHERE name = ${name}`,
    );
    return row ? String(row.version) : "absent";
  }

  async names(): Promise<string[]> {
    const rows = await this.#reading(
      "list pairing data",
      (sql) => sql`SELECT name FROM pairing_documents ORDER BY name`,
    );
    return rows.map((row) => String(row.name));
  }

  /** A read, tried again on a new connection when the link drops. */
  async #reading<T>(what: string, work: (sql: Sql) => Promise<T>): Promise<T> {
    const pool = await this.#open();
    return await retrying(() => pool.use(work), { idempotent: true, what: `Cannot ${what}` });
  }

  locate(name: string): string {
    return `the row "${name}" of pairing_documents in the PostgreSQL database (storage.url)`;
  }

  /** Closes the pool, if it was opened. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await (await pool.catch(() => undefined))?.end();
  }

  #open(): Promise<PgPool> {
    this.#pool ??= openPostgres(this.#url, PG_MIGRATIONS, {
      max: 2,
      readOnly: this.#readOnly,
    }).catch((error) => {
      this.#pool = undefined; // the next use tries again
      throw error;
    });
    return this.#pool;
  }
}

/** The object `name` (absent: empty). */
async function readDocument<T>(sql: Queryable, name: string): Promise<T> {
  const [row] = await sql`SELECT body FROM pairing_documents WHERE name = ${name}`;
  const body = row?.body;
  return (typeof body === "object" && body !== null && !Array.isArray(body) ? body : {}) as T;
}
