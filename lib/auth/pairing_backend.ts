/**
 * The pairing store the configuration names: files in the home on SQLite,
 * rows of the shared database on `storage.backend: postgres` (loaded, and
 * connected, only at the first use, so a command that never pairs never
 * loads the PostgreSQL driver).
 *
 * @module
 */

import type { HermesPaths } from "../config/home.ts";
import type { StorageSettings } from "../storage/open_state_store.ts";
import { checkPostgresUrl } from "../storage/database_url.ts";
import type { Logger } from "../util/log.ts";
import {
  type LockedPairingDocuments,
  type PairingDocuments,
  PairingFiles,
} from "./pairing_documents.ts";
import { PairingStore, type PairingStoreOptions } from "./pairing.ts";

/** A pairing store and how to let go of its connections. */
export interface OpenPairing {
  readonly store: PairingStore;
  /** Closes the database connections, if any were opened. */
  close(): Promise<void>;
}

/**
 * The pairing store of `storage` (the files under `paths.pairingDir`, or
 * the database at `storage.url`). Throws a ConfigError for a bad URL.
 *
 * @example
 * ```ts
 * import type { HermesPaths } from "../config/home.ts";
 * import type { Config } from "../config/schema.ts";
 * declare const config: Config, paths: HermesPaths;
 * const pairing = openPairing(config.storage, paths);
 * await pairing.store.listPending();
 * await pairing.close();
 * ```
 */
export function openPairing(
  storage: StorageSettings,
  paths: Pick<HermesPaths, "pairingDir">,
  options: PairingStoreOptions & {
    log?: Logger;
    /** For reading only: the database is neither migrated nor written (files: no change). */
    readOnly?: boolean;
  } = {},
): OpenPairing {
  if (storage.backend !== "postgres") {
    return { store: new PairingStore(paths.pairingDir, options), close: () => Promise.resolve() };
  }
  const url = checkPostgresUrl(storage.url);
  const docs = new DeferredDocuments(async () => {
    const { PgPairingDocuments } = await import("../storage/postgres/pairing_documents.ts");
    const pg = new PgPairingDocuments(url, { readOnly: options.readOnly });
    if (!options.readOnly) await importFiles(pg, new PairingFiles(paths.pairingDir), options.log);
    return pg;
  });
  return { store: new PairingStore(docs, options), close: () => docs.close() };
}

/**
 * A database without pairing data takes the home's pairing files (a home
 * that moved from SQLite to PostgreSQL keeps its approved users, codes and
 * lockouts); once the database has any, the files are no longer read.
 */
async function importFiles(
  pg: PairingDocuments,
  files: PairingFiles,
  log: Logger | undefined,
): Promise<void> {
  const names = await files.names();
  if (names.length === 0) return;
  const imported = await pg.locked(async (docs) => {
    if ((await pg.names()).length > 0) return 0;
    for (const name of names) await docs.write(name, await files.readOrEmpty(name, log));
    return names.length;
  });
  if (imported > 0) {
    log?.info("pairing data of the home imported into the database", {
      from: files.where,
      documents: imported,
    });
  }
}

/** Documents made at their first use. */
class DeferredDocuments implements PairingDocuments {
  readonly where = "the PostgreSQL database (storage.url)";
  readonly #make: () => Promise<PairingDocuments & { close(): Promise<void> }>;
  #docs: Promise<PairingDocuments & { close(): Promise<void> }> | undefined;

  constructor(make: () => Promise<PairingDocuments & { close(): Promise<void> }>) {
    this.#make = make;
  }

  async locked<T>(change: (docs: LockedPairingDocuments) => Promise<T>): Promise<T> {
    return await (await this.#get()).locked(change);
  }

  async readOrEmpty<T>(name: string, log?: Logger): Promise<T> {
    return await (await this.#get()).readOrEmpty<T>(name, log);
  }

  async stamp(name: string): Promise<string> {
    return await (await this.#get()).stamp(name);
  }

  async names(): Promise<string[]> {
    return await (await this.#get()).names();
  }

  locate(name: string): string {
    return `the row "${name}" of pairing_documents in the PostgreSQL database (storage.url)`;
  }

  async close(): Promise<void> {
    await (await this.#docs)?.close();
  }

  #get() {
    return this.#docs ??= this.#make();
  }
}
