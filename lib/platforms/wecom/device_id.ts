/**
 * The device_id a bot subscribes with, made once per bot and kept in the
 * platform's state folder (`device_ids.json`, mode 0600). Reused on every
 * reconnect, every restart and by a replacing process, so the server
 * replaces our stale session instead of routing messages to it.
 *
 * @module
 */

import { writeJsonAtomic } from "../../util/atomic_file.ts";

/** The file, in the platform's state folder. */
export const DEVICE_ID_FILE = "device_ids.json";

/**
 * The device_id of `botId`, if one was made.
 *
 * @example
 * ```ts
 * await readDeviceId("/home/me/.hermes/platforms/wecom", "bot-1"); // "9f1c…" or undefined
 * ```
 */
export async function readDeviceId(stateDir: string, botId: string): Promise<string | undefined> {
  const ids = await readIds(`${stateDir}/${DEVICE_ID_FILE}`);
  const id = ids?.[botId];
  return typeof id === "string" && id !== "" ? id : undefined;
}

/**
 * The device_id of `botId`: the stored one, or a new one, stored before it
 * is answered. A file that cannot be read is replaced (and `onReplaced`
 * told), since subscribing under a new id is the only way on.
 */
export async function deviceIdFor(
  stateDir: string,
  botId: string,
  onReplaced?: (why: string) => void,
): Promise<string> {
  const path = `${stateDir}/${DEVICE_ID_FILE}`;
  let ids: Record<string, unknown> = {};
  try {
    ids = await readIds(path) ?? {};
  } catch (error) {
    onReplaced?.(`${path} cannot be read (${(error as Error).message}); a new device_id is made`);
  }
  const known = ids[botId];
  if (typeof known === "string" && known !== "") return known;
  const id = crypto.randomUUID().replaceAll("-", "");
  await writeJsonAtomic(path, { ...ids, [botId]: id }, { mode: 0o600 });
  return id;
}

async function readIds(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("not a JSON object");
  }
  return value;
}
