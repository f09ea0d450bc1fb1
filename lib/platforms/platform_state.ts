/**
 * What an adapter keeps between runs (cursors, context tokens, send
 * progress, device ids), as small named JSON texts: files in the
 * platform's folder of the home ({@linkcode folderState}), or rows of the
 * shared database in a pool, so the gateway that takes a bot over goes on
 * where the last one stopped (written under the bot's lease).
 *
 * @module
 */

import { writeFileAtomic } from "../util/atomic_file.ts";

/** An adapter's kept state. */
export interface PlatformState {
  /** Where it is, for messages (a folder, or the database). */
  readonly where: string;
  /** The text of `name` (a relative path, e.g. `offset-42.json`), or undefined when there is none. */
  readText(name: string): Promise<string | undefined>;
  /** Replaces `name` with `text`, atomically and durably (a file: mode 0600, folders 0700). */
  writeText(name: string, text: string): Promise<void>;
}

/**
 * The state as files under `dir`.
 *
 * @example
 * ```ts
 * const state = folderState("/srv/hermes/platforms/telegram");
 * await state.writeText("offset-42.json", '{"offset":7}\n');
 * await state.readText("offset-42.json"); // '{"offset":7}\n'
 * ```
 */
export function folderState(dir: string): PlatformState {
  return {
    where: dir,
    async readText(name) {
      try {
        return await Deno.readTextFile(`${dir}/${name}`);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      }
    },
    async writeText(name, text) {
      const path = `${dir}/${name}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
      await writeFileAtomic(path, text, { mode: 0o600 });
    },
  };
}

/**
 * The state of an adapter's context: its own (a pool's database) or the
 * files of its folder.
 *
 * @example
 * ```ts
 * import type { AdapterContext } from "./adapter.ts";
 * declare const context: AdapterContext;
 * const state = stateOf(context);
 * ```
 */
export function stateOf(context: { state?: PlatformState; stateDir: string }): PlatformState {
  return context.state ?? folderState(context.stateDir);
}

/**
 * `where` as state: a folder's files, or the state itself.
 *
 * @example
 * ```ts
 * asState("/srv/hermes/platforms/wecom").where; // "/srv/hermes/platforms/wecom"
 * ```
 */
export function asState(where: string | PlatformState): PlatformState {
  return typeof where === "string" ? folderState(where) : where;
}

/**
 * Writes `value` as pretty JSON (with a final newline) to `name`.
 *
 * @example
 * ```ts
 * await writeStateJson(folderState("/srv/hermes/platforms/telegram"), "offset-42.json", { offset: 7 });
 * ```
 */
export async function writeStateJson(
  state: PlatformState,
  name: string,
  value: unknown,
): Promise<void> {
  await state.writeText(name, `${JSON.stringify(value, null, 2)}\n`);
}
