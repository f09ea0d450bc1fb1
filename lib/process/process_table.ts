/**
 * Whether a process recorded elsewhere (a lease holder's, in the shared
 * database) has certainly ended: only a process of the same process table
 * (the same Linux boot and PID namespace) and the same user can be looked
 * up by PID, and only a PID that is gone, or that another process took
 * since, is a death. Anywhere else (another host, another container, other
 * users, no /proc) the answer is "cannot tell", and the caller waits as it
 * would for a host it cannot see.
 *
 * @module
 */

import { readIdentity } from "./identity.ts";

/** A process as another process can find it again. */
export interface RecordedProcess {
  /** `linux:<boot id>:<pid namespace>:<uid>`; PIDs are comparable only within one. */
  readonly table: string;
  readonly pid: number;
  /** Clock ticks since boot when it started (a recycled PID has another). */
  readonly startTime: number;
}

/**
 * The process table `pid` of this machine is looked up in, with this
 * user; undefined where there is none to read (no /proc: macOS, Windows).
 *
 * @example
 * ```ts
 * processTable(); // "linux:4189b724-78af-4c4e-b00e-e055ef2a5ced:4026531836:1000"
 * ```
 */
export function processTable(): string | undefined {
  try {
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
 * me && processEnded(me); // false: this process lives
 * ```
 */
export function recordProcess(pid: number = Deno.pid): RecordedProcess | undefined {
  const table = processTable();
  const identity = table === undefined ? undefined : readIdentity(pid);
  return table && identity ? { table, pid, startTime: identity.startTime } : undefined;
}

/**
 * True only when `recorded` is of this process table and its PID is gone,
 * a zombie, or another process's now; false when it lives or this process
 * cannot tell (another host or container, unreadable /proc).
 *
 * @example
 * ```ts
 * processEnded({ table: "linux:4189b724-78af-4c4e-b00e-e055ef2a5ced:4026531836:1000", pid: 4242, startTime: 91_234 });
 * ```
 */
export function processEnded(recorded: RecordedProcess): boolean {
  if (recorded.table !== processTable()) return false;
  try {
    Deno.statSync(`/proc/${recorded.pid}`);
  } catch (error) {
    return error instanceof Deno.errors.NotFound;
  }
  const now = readIdentity(recorded.pid);
  return now === undefined || now.startTime !== recorded.startTime;
}
