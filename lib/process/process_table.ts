/**
 * Whether a process recorded elsewhere (a lease holder's, in the shared
 * database) has certainly ended: only a process of the same process table
 * (the same Linux boot and PID namespace, with its own /proc mounted, and
 * the same user, with every process of that user visible) can be looked up
 * by PID, and only a PID that is gone, a zombie, or another process's
 * since is a death. Anywhere else (another host, another container, other
 * users, a /proc that hides processes or cannot be read) the answer is
 * "cannot tell", and the caller waits as it would for a host it cannot see.
 *
 * @module
 */

import { readIdentity, readProcStat } from "./identity.ts";

/** A process as another process can find it again. */
export interface RecordedProcess {
  /** `linux:<boot id>:<pid namespace>:<uid>`; PIDs are comparable only within one. */
  readonly table: string;
  /** Its PID in that table. */
  readonly pid: number;
  /** Clock ticks since boot when it started (a recycled PID has another). */
  readonly startTime: number;
}

/**
 * The process table this process looks PIDs up in, named with its user;
 * undefined where PIDs cannot be trusted to tell: no /proc (macOS,
 * Windows), a /proc of another PID namespace, a /proc mounted with
 * `hidepid` or `subset`, or anything unreadable.
 *
 * @example
 * ```ts
 * processTable(); // "linux:4189b724-78af-4c4e-b00e-e055ef2a5ced:4026531836:1000"
 * ```
 */
export function processTable(): string | undefined {
  if (thisTable === null) thisTable = readProcessTable();
  return thisTable;
}

/** This process's table, read once: boot, namespaces and mounts do not change under it. */
let thisTable: string | undefined | null = null;

function readProcessTable(): string | undefined {
  try {
    if (Deno.readLinkSync("/proc/self") !== String(Deno.pid)) return undefined;
    if (procHidesProcesses()) return undefined;
    const boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    const namespace = /\[(\d+)\]/.exec(Deno.readLinkSync("/proc/self/ns/pid"))?.[1];
    const uid = Deno.uid();
    if (!boot || !namespace || uid === null) return undefined;
    return `linux:${boot}:${namespace}:${uid}`;
  } catch {
    return undefined;
  }
}

/**
 * `pid` (default this process) as {@linkcode processEnded} can judge it
 * later, or undefined when it cannot be told apart from another.
 *
 * @example
 * ```ts
 * const me = recordProcess();
 * if (me) processEnded(me); // false: this process lives
 * ```
 */
export function recordProcess(pid: number = Deno.pid): RecordedProcess | undefined {
  const table = processTable();
  const identity = table === undefined ? undefined : readIdentity(pid);
  return table && identity ? { table, pid, startTime: identity.startTime } : undefined;
}

/**
 * True only when `recorded` is of this process table and its PID is gone,
 * a zombie left by its last thread, or another process's now; false when
 * it lives or this process cannot tell (another table, an entry that
 * cannot be read).
 *
 * @example
 * ```ts
 * const child = new Deno.Command("sleep", { args: ["5"] }).spawn();
 * const recorded = recordProcess(child.pid)!;
 * child.kill("SIGKILL");
 * await child.status;
 * processEnded(recorded); // true
 * ```
 */
export function processEnded(recorded: RecordedProcess): boolean {
  if (recorded.table !== processTable()) return false;
  const stat = readProcStat(recorded.pid);
  if (stat === "gone") return true;
  if (stat === undefined) return false;
  if (stat.startTime !== recorded.startTime) return true;
  return stat.state === "X" || (stat.state === "Z" && threadsOf(recorded.pid) <= 1);
}

/**
 * Whether the /proc mounted here hides other processes (hidepid other than
 * 0, or subset): the last mount on /proc is the one seen (mounts stack).
 */
function procHidesProcesses(): boolean {
  let hides = true; // no /proc mount found: nothing to trust
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const [mount, superblock = ""] = line.split(" - ");
    if (mount?.split(" ")[4] !== "/proc") continue;
    const [type, , options = ""] = superblock.split(" ");
    hides = type !== "proc" || options.split(",").some(hidesOthers);
  }
  return hides;
}

function hidesOthers(option: string): boolean {
  return option.startsWith("subset=") ||
    (option.startsWith("hidepid=") && option !== "hidepid=0" && option !== "hidepid=off");
}

/** How many threads `pid` has left (a zombie main thread with live others is no death). */
function threadsOf(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/task`)].length;
  } catch {
    return 0;
  }
}
