/**
 * Signals that never hit the wrong process: every signal is sent only after
 * checking that the PID still has the start time recorded when it was chosen.
 * A PID the kernel handed to someone else since is left alone.
 *
 * @module
 */

import { readIdentity } from "./identity.ts";

/** What happened to a guarded signal. */
export type SignalOutcome =
  /** Delivered to the process we meant. */
  | "sent"
  /** The process is gone (or a zombie): nothing to do. */
  | "gone"
  /** The PID now belongs to another process: refused. */
  | "reused";

/**
 * Sends `signal` to `pid` if it is still the process that started at
 * `startTime` (null: the PID alone decides, for systems without /proc).
 * Permission errors are thrown.
 *
 * @example
 * ```ts
 * signalIfSame(4242, 99_123, "SIGTERM"); // "sent"
 * ```
 */
export function signalIfSame(
  pid: number,
  startTime: number | null,
  signal: Deno.Signal,
): SignalOutcome {
  const live = readIdentity(pid);
  if (!live) return "gone";
  if (startTime !== null && live.startTime !== startTime) return "reused";
  try {
    Deno.kill(pid, signal);
    return "sent";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "gone";
    throw error;
  }
}

/** Whether `pid` is still the process that started at `startTime`. */
export function isSameProcessAlive(pid: number, startTime: number | null): boolean {
  const live = readIdentity(pid);
  return live !== undefined && (startTime === null || live.startTime === startTime);
}

/**
 * Polls until the process is gone; true when it went within `timeoutMs`.
 * A PID reused by another process counts as gone.
 *
 * @example
 * ```ts
 * await waitForExit(4242, 99_123, { timeoutMs: 10_000 }); // true
 * ```
 */
export async function waitForExit(
  pid: number,
  startTime: number | null,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<boolean> {
  const interval = options.intervalMs ?? 10;
  const deadline = performance.now() + options.timeoutMs;
  while (isSameProcessAlive(pid, startTime)) {
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  return true;
}
