/**
 * The saved getUpdates offset of a bot (`<state dir>/offset-<bot id>.json`,
 * written atomically, mode 0600): the next update to ask for once the
 * updates before it are journaled.
 *
 * @module
 */

import { writeJsonAtomic } from "../../util/atomic_file.ts";

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
export async function readOffset(stateDir: string, botId: string): Promise<number | undefined> {
  try {
    const saved = JSON.parse(await Deno.readTextFile(offsetPath(stateDir, botId)));
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
export async function saveOffset(stateDir: string, botId: string, offset: number): Promise<void> {
  await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeJsonAtomic(offsetPath(stateDir, botId), {
    offset,
    saved_at: new Date().toISOString(),
  }, { mode: 0o600 });
}

function offsetPath(stateDir: string, botId: string): string {
  return `${stateDir}/offset-${botId.replace(/[^0-9]/g, "")}.json`;
}
