/**
 * Where the pairing store keeps its JSON objects (`_rate_limits`,
 * `<platform>-pending`, `<platform>-approved`): files in the home
 * ({@linkcode PairingFiles}, one machine) or rows of the shared PostgreSQL
 * database (a pool: a code issued by one gateway is approved on another
 * host). Every change runs under one exclusive lock; what it reads and
 * writes there is one consistent change.
 *
 * @module
 */

import type { Logger } from "../util/log.ts";
import {
  readJsonObject,
  readJsonObjectOrEmpty,
  withExclusiveLock,
  writeSecretJson,
} from "./_pairing_files.ts";

/** The documents as seen while holding the lock. */
export interface LockedPairingDocuments {
  /** The object `name`; absent is empty; unreadable or not an object throws (never overwritten). */
  read<T>(name: string): Promise<T>;
  /** Replaces `name` with `value` (durably, before the lock is let go). */
  write(name: string, value: unknown): Promise<void>;
}

/** The pairing store's documents. */
export interface PairingDocuments {
  /** Where they are, for messages (a folder, or the database). */
  readonly where: string;
  /** Runs `change` holding the exclusive lock (waits for other processes and hosts). */
  locked<T>(change: (docs: LockedPairingDocuments) => Promise<T>): Promise<T>;
  /** Reads `name` outside the lock; a problem is logged and reads as empty. */
  readOrEmpty<T>(name: string, log?: Logger): Promise<T>;
  /** Something that changes whenever `name` does (a cache key). */
  stamp(name: string): Promise<string>;
  /** The names of the documents that exist. */
  names(): Promise<string[]>;
  /** Where document `name` is, for a person to find it (a path, or a row). */
  locate(name: string): string;
}

/** Options of {@linkcode PairingFiles}. */
export interface PairingFilesOptions {
  /** Reads a file's metadata (default `Deno.stat`); a test makes it slow. */
  readonly stat?: (path: string) => Promise<Deno.FileInfo>;
}

/**
 * The documents as files `<name>.json` in `dir`, written atomically with
 * mode 0600, changed under an exclusive flock on `dir/.lock`.
 *
 * @example
 * ```ts
 * const files = new PairingFiles("/srv/hermes/platforms/pairing");
 * await files.locked(async (docs) => {
 *   const limits = await docs.read<Record<string, number>>("_rate_limits");
 *   await docs.write("_rate_limits", limits);
 * });
 * ```
 */
export class PairingFiles implements PairingDocuments {
  readonly where: string;
  readonly #stat: (path: string) => Promise<Deno.FileInfo>;

  constructor(dir: string, options: PairingFilesOptions = {}) {
    this.where = dir;
    this.#stat = options.stat ?? Deno.stat;
  }

  locked<T>(change: (docs: LockedPairingDocuments) => Promise<T>): Promise<T> {
    return withExclusiveLock(this.where, () =>
      change({
        read: (name) => readJsonObject(this.#path(name)),
        write: (name, value) => writeSecretJson(this.#path(name), value),
      }));
  }

  readOrEmpty<T>(name: string, log?: Logger): Promise<T> {
    return readJsonObjectOrEmpty<T>(this.#path(name), log);
  }

  /** Every write is a rename: a new inode and time. */
  async stamp(name: string): Promise<string> {
    try {
      const info = await this.#stat(this.#path(name));
      return `${info.ino}:${info.mtime?.getTime()}:${info.ctime?.getTime()}:${info.size}`;
    } catch (error) {
      return error instanceof Deno.errors.NotFound ? "absent" : `error:${Date.now()}`;
    }
  }

  async names(): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const item of Deno.readDir(this.where)) {
        if (item.isFile && item.name.endsWith(".json")) names.push(item.name.slice(0, -5));
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return names;
  }

  locate(name: string): string {
    return this.#path(name);
  }

  #path(name: string): string {
    return `${this.where}/${name}.json`;
  }
}
