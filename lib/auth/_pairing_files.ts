/**
 * The pairing store's files: JSON objects written atomically with mode
 * 0600, changed only under an exclusive flock on the folder's `.lock`.
 * Private to lib/auth.
 *
 * @module
 */

import { HermesError } from "../errors.ts";
import { writeJsonAtomic } from "../util/atomic_file.ts";
import type { Logger } from "../util/log.ts";

/** Runs `change` holding the exclusive lock of `dir` (waits for other processes). */
export async function withExclusiveLock<T>(dir: string, change: () => Promise<T>): Promise<T> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  using lock = await Deno.open(`${dir}/.lock`, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  await lock.lock(true);
  try {
    return await change();
  } finally {
    await lock.unlock();
  }
}

/** Replaces `path` with `value` as JSON, atomically, mode 0600. */
export async function writeSecretJson(path: string, value: unknown): Promise<void> {
  await writeJsonAtomic(path, value, { mode: 0o600 });
}

/**
 * Reads a JSON object file; a missing file is empty. A file that cannot be
 * read or is no JSON object throws, so that it is never overwritten.
 */
export async function readJsonObject<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {} as T;
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new HermesError(
        "pairing_file_unreadable",
        `Pairing file "${path}" is not readable by this user`,
        {
          cause: error,
          hints: [
            "run hermes as the user that owns the home; in a container: docker exec -u hermes <container> hermes pair ...",
          ],
        },
      );
    }
    throw error;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as T;
  } catch {
    // reported below
  }
  throw new HermesError(
    "pairing_file_corrupt",
    `Cannot change pairing data: "${path}" is not a JSON object; nothing was changed`,
    { hints: ["fix the file, or move it aside to start that list afresh"] },
  );
}

/** Reads like {@linkcode readJsonObject}, but logs a problem and reads the file as empty. */
export async function readJsonObjectOrEmpty<T>(path: string, log?: Logger): Promise<T> {
  try {
    return await readJsonObject<T>(path);
  } catch (error) {
    log?.warn((error as Error).message, { path });
    return {} as T;
  }
}
