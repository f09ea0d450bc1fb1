/**
 * Opens the state store the configuration names (`storage.backend`):
 * `state.db` in the home (SQLite, the default) or the PostgreSQL database
 * at `storage.url`. Each backend's code is loaded only when it is used, so
 * a command that never opens PostgreSQL never loads its driver.
 *
 * @module
 */

import type { StateStore } from "./state_store.ts";
import type { Tx } from "./postgres/database.ts";
import { checkPostgresUrl } from "./database_url.ts";

/** The `storage` settings of the configuration. */
export interface StorageSettings {
  readonly backend: "sqlite" | "postgres";
  readonly url?: string;
  readonly pool_max: number;
  readonly synchronous: "full" | "normal";
}

/** Options of {@linkcode openStateStore}. */
export interface OpenStateOptions {
  /** For reading only (the CLI's read commands). */
  readonly readOnly?: boolean;
  /** False: never migrate (a CLI that writes beside a running gateway, perhaps of another version). */
  readonly migrate?: boolean;
  readonly now?: () => Date;
  /** PostgreSQL: checks the bot lease of each write for a platform (a pool's fencing). */
  readonly fence?: (tx: Tx, platform: string) => Promise<void>;
}

/**
 * The store of `storage`; SQLite's is the file `stateDb`. Throws a
 * ConfigError (exit 78) for a URL that is not `postgres://`, a
 * StoreConnectionError (exit 75) for a server that cannot be reached.
 *
 * @example
 * ```ts
 * import type { HermesPaths } from "../config/home.ts";
 * import type { Config } from "../config/schema.ts";
 * declare const config: Config, paths: HermesPaths;
 * const store = await openStateStore(config.storage, paths.stateDb);
 * await store.close();
 * ```
 */
export async function openStateStore(
  storage: StorageSettings,
  stateDb: string,
  options: OpenStateOptions = {},
): Promise<StateStore> {
  if (storage.backend === "postgres") {
    const url = checkPostgresUrl(storage.url);
    const { openPostgresStateStore } = await import("./postgres/state_store.ts");
    return await openPostgresStateStore(url, {
      max: options.readOnly ? Math.min(2, storage.pool_max) : storage.pool_max,
      readOnly: options.readOnly,
      now: options.now,
      fence: options.fence,
    });
  }
  const { openSqliteStateStore } = await import("./sqlite/state_store.ts");
  return openSqliteStateStore(stateDb, {
    synchronous: storage.synchronous,
    readOnly: options.readOnly,
    migrate: options.migrate,
    now: options.now,
  });
}
