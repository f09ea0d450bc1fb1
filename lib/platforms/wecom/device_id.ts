/**
 * The device_id a bot subscribes with, made once per bot and kept in the
 * platform's state (`device_ids.json`: in its folder, mode 0600, or a
 * pool's database). Reused on every
 * reconnect, every restart and by a replacing process, so the server
 * replaces our stale session instead of routing messages to it.
 *
 * @module
 */

import { asState, type PlatformState, writeStateJson } from "../platform_state.ts";

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
export async function readDeviceId(
  where: string | PlatformState,
  botId: string,
): Promise<string | undefined> {
  const ids = await readIds(asState(where));
  const id = ids?.[botId];
  return typeof id === "string" && id !== "" ? id : undefined;
}

/**
 * The device_id of `botId`: the stored one, or a new one, stored before it
 * is answered. A file that cannot be read is replaced (and `onReplaced`
 * told), since subscribing under a new id is the only way on.
 */
export async function deviceIdFor(
  where: string | PlatformState,
  botId: string,
  onReplaced?: (why: string) => void,
): Promise<string> {
  const state = asState(where);
  let ids: Record<string, unknown> = {};
  try {
    ids = await readIds(state) ?? {};
  } catch (error) {
    onReplaced?.(
      `${state.where}/${DEVICE_ID_FILE} cannot be read (${
        (error as Error).message
      }); a new device_id is made`,
    );
  }
  const known = ids[botId];
  if (typeof known === "string" && known !== "") return known;
  const id = crypto.randomUUID().replaceAll("-", "");
  await writeStateJson(state, DEVICE_ID_FILE, { ...ids, [botId]: id });
  return id;
}

async function readIds(state: PlatformState): Promise<Record<string, unknown> | undefined> {
  const text = await state.readText(DEVICE_ID_FILE);
  if (text === undefined) return undefined;
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("not a JSON object");
  }
  return value;
}
