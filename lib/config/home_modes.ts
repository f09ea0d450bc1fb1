/**
 * Folders of the hermes home that other users can open. hermes creates the
 * home and its state folders 0700, but never changes a folder the operator
 * made: it names the loose ones (in `gateway status` and the log at start)
 * and says how to close them.
 *
 * @module
 */

import type { HermesPaths } from "./home.ts";

/** A folder of the home that group or others may read, write or enter. */
export interface LooseMode {
  readonly path: string;
  /** Its permission bits in octal, e.g. `"0755"`. */
  readonly mode: string;
}

/**
 * The home and its state folders (`logs/`, `media/`, `platforms/` and each
 * folder in it) whose mode grants group or others anything; empty where the
 * file system has no modes (Windows) or every folder is 0700 or tighter.
 * Folders that do not exist yet are skipped (hermes creates them 0700).
 *
 * @example
 * ```ts
 * import { hermesPaths } from "./home.ts";
 * looseModes(hermesPaths("/srv/hermes")); // [{ path: "/srv/hermes", mode: "0755" }]
 * ```
 */
export function looseModes(paths: HermesPaths): LooseMode[] {
  const platforms = `${paths.home}/platforms`;
  const folders = [paths.home, paths.logsDir, paths.mediaDir, platforms];
  try {
    for (const entry of Deno.readDirSync(platforms)) {
      if (entry.isDirectory) folders.push(`${platforms}/${entry.name}`);
    }
  } catch {
    // no platforms/ yet
  }
  const loose: LooseMode[] = [];
  for (const path of folders) {
    let mode: number | null;
    try {
      mode = Deno.statSync(path).mode;
    } catch {
      continue;
    }
    if (mode === null || (mode & 0o077) === 0) continue;
    loose.push({ path, mode: `0${(mode & 0o777).toString(8).padStart(3, "0")}` });
  }
  return loose;
}

/**
 * The one-line warning naming the loose folders and the command that closes
 * them.
 *
 * @example
 * ```ts
 * describeLooseModes([{ path: "/srv/hermes", mode: "0755" }]);
 * // "The hermes home is open to other users: /srv/hermes is 0755; it holds secrets and state, so close it with: chmod 700 /srv/hermes"
 * ```
 */
export function describeLooseModes(loose: readonly LooseMode[]): string {
  const list = loose.map((l) => `${l.path} is ${l.mode}`).join(", ");
  const paths = loose.map((l) => quoteForShell(l.path)).join(" ");
  return `The hermes home is open to other users: ${list}; it holds secrets and state, so close it with: chmod 700 ${paths}`;
}

function quoteForShell(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
}
