/**
 * Who a PID really is: its start time and command line, so that a recycled
 * PID is never mistaken for the gateway that once had it.
 *
 * Linux reads `/proc/<pid>/stat` (field 22, start time in clock ticks since
 * boot) and `/proc/<pid>/cmdline`. Other systems are not supported yet: the
 * functions answer `undefined` (unknown), and callers fall back on the lock.
 *
 * @module
 */

/** What /proc tells about a live process. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Start time in clock ticks since boot; together with the PID it names one process. */
  readonly startTime: number;
  /** Process state letter: R, S, D, T (stopped), Z (zombie), ... */
  readonly state: string;
  /** The command line, one element per argument; empty when unreadable. */
  readonly cmdline: readonly string[];
}

/**
 * The identity of `pid`, or undefined when no such process lives (zombies
 * count as dead) or /proc is not available.
 *
 * @example
 * ```ts
 * const me = readIdentity(Deno.pid);
 * me?.cmdline; // ["deno", "run", ...]
 * ```
 */
export function readIdentity(pid: number): ProcessIdentity | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0] ?? "?";
  const startTime = Number(fields[19]);
  if (state === "Z" || state === "X" || !Number.isFinite(startTime)) return undefined;
  let cmdline: string[] = [];
  try {
    cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter((a) => a !== "");
  } catch {
    // Unreadable (another user's process): callers treat it as unknown.
  }
  return { pid, startTime, state, cmdline };
}

/**
 * Whether a command line is a hermes gateway process: a hermes entry point
 * (the binary, the bundle, or `cli/main.ts` under deno) running `gateway run`
 * (a bare `gateway` means run) or `gateway restart`, which becomes the gateway
 * when no supervisor does.
 *
 * @example
 * ```ts
 * isGatewayCommand(["deno", "run", "-A", "/src/hermes/cli/main.ts", "gateway", "run"]); // true
 * isGatewayCommand(["sleep", "60"]); // false
 * ```
 */
export function isGatewayCommand(cmdline: readonly string[]): boolean {
  const entry = cmdline.findIndex((arg) =>
    /(^|\/)(hermes(\.js)?|hermes-[\w.-]+|cli\/main\.ts)$/.test(arg)
  );
  if (entry < 0) return false;
  // Global options may carry values (`--log-format json`), so look for the word itself.
  const words = cmdline.slice(entry + 1).filter((arg) => !arg.startsWith("-"));
  const at = words.indexOf("gateway");
  if (at < 0 || at > 1) return false;
  const sub = words[at + 1];
  return sub === undefined || sub === "run" || sub === "restart";
}

/**
 * The live children of `pid` with their start times (Linux; empty elsewhere),
 * so that they can be reaped after their parent is replaced.
 *
 * @example
 * ```ts
 * childrenOf(Deno.pid); // [{ pid: 4300, startTime: 99, ... }]
 * ```
 */
export function childrenOf(pid: number): ProcessIdentity[] {
  const children: ProcessIdentity[] = [];
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync("/proc");
  } catch {
    return children;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent !== pid) continue;
    } catch {
      continue; // gone meanwhile
    }
    const child = readIdentity(Number(entry.name));
    if (child) children.push(child);
  }
  return children;
}
