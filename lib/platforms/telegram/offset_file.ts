/**
 * The saved getUpdates offset of a bot (`offset-<bot id>.json` in the
 * platform's state: its folder, written atomically, mode 0600, or a pool's
 * database): the next update to ask for once the
 * updates before it are journaled.
 *
 * @module
 */

import { asState, type PlatformState, writeStateJson } from "../platform_state.ts";

/**
 * The saved offset of bot `botId`, or undefined (none yet, or unreadable:
 * then Telegram's oldest unconfirmed update comes first, and the journal
 * drops what it already holds).
 *
 * @example
 * ```ts
 * const offset = await readOffset("/srv/hermes/platforms/telegram", "123456");
 * ```
 */
export async function readOffset(
  where: string | PlatformState,
  botId: string,
): Promise<number | undefined> {
  try {
    const saved = JSON.parse(await asState(where).readText(offsetName(botId)) ?? "null");
    return Number.isSafeInteger(saved?.offset) ? saved.offset : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Saves `offset` for bot `botId`.
 *
 * @example
 * ```ts
 * await saveOffset("/srv/hermes/platforms/telegram", "123456", 88_000_001);
 * ```
 */
export async function saveOffset(
  where: string | PlatformState,
  botId: string,
  offset: number,
): Promise<void> {
  await writeStateJson(asState(where), offsetName(botId), {
    offset,
    saved_at: new Date().toISOString(),
  });
}

function offsetName(botId: string): string {
  return `offset-${botId.replace(/[^0-9]/g, "")}.json`;
}
