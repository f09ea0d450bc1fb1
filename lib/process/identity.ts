/**
 * Who a PID really is: its start time and command line, so that a recycled
 * PID is never mistaken for the gateway that once had it.
 *
 * Linux reads `/proc/<pid>/stat` (field 22, start time in clock ticks since
 * boot) and `/proc/<pid>/cmdline`. Systems without /proc (macOS, the BSDs)
 * ask `ps -o lstart=,stat=,command=`: the start time is then in seconds since
 * the epoch, and the command line is split on spaces. Windows is not
 * supported: identities are unknown there and callers rely on the lock.
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
  if (!hasProc()) return readIdentityFromPs(pid);
  const stat = readProcStat(pid);
  if (typeof stat !== "object") return undefined;
  const { state, startTime } = stat;
  if (state === "Z" || state === "X") return undefined;
  let cmdline: string[] = [];
  try {
    cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").filter((a) => a !== "");
  } catch {
    // Unreadable (another user's process): callers treat it as unknown.
  }
  return { pid, startTime, state, cmdline };
}

/**
 * The identity of `pid` as `ps` tells it (for systems without /proc);
 * undefined when no such process lives, it is a zombie, or `ps` is missing.
 *
 * @example
 * ```ts
 * readIdentityFromPs(Deno.pid)?.startTime; // 1795242943 (seconds since the epoch)
 * ```
 */
export function readIdentityFromPs(pid: number): ProcessIdentity | undefined {
  let output: Deno.CommandOutput;
  try {
    output = new Deno.Command("ps", {
      args: ["-o", "lstart=,stat=,command=", "-p", String(pid)],
      env: { LC_ALL: "C" },
      stdout: "piped",
      stderr: "null",
    }).outputSync();
  } catch {
    return undefined;
  }
  // "Sat Nov 21 06:34:26 2026 S    /usr/bin/hermes gateway run": lstart is 5 words.
  const words = new TextDecoder().decode(output.stdout).trim().split(/\s+/);
  if (!output.success || words.length < 6) return undefined;
  const startTime = Date.parse(words.slice(0, 5).join(" ")) / 1000;
  const state = words[5]!.charAt(0);
  if (!Number.isFinite(startTime) || state === "Z") return undefined;
  return { pid, startTime, state, cmdline: words.slice(6) };
}

/**
 * What `/proc/<pid>/stat` says of `pid`: its state letter and start time;
 * `"gone"` when there is no such entry; undefined when it cannot be read
 * or parsed (permissions, no file handle left, no /proc), which tells
 * nothing either way.
 *
 * @example
 * ```ts
 * readProcStat(Deno.pid); // { state: "R", startTime: 91234 }
 * ```
 */
export function readProcStat(
  pid: number,
): { readonly state: string; readonly startTime: number } | "gone" | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? "gone" : undefined;
  }
  // The command name may hold spaces and parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const startTime = Number(fields[19]);
  return state && Number.isFinite(startTime) ? { state, startTime } : undefined;
}

let procAvailable: boolean | undefined;
function hasProc(): boolean {
  if (procAvailable === undefined) {
    try {
      procAvailable = Deno.statSync("/proc/self/stat").isFile;
    } catch {
      procAvailable = false;
    }
  }
  return procAvailable;
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
