/**
 * "Is a gateway running in this home, and which process is it?" Answered by
 * the runtime lock first, then the PID records: a candidate counts only when
 * it is alive, has the recorded start time, belongs to this home and its
 * command line is a hermes gateway. A reused PID (say, a `sleep 60` that got
 * the dead gateway's number) is never taken for the gateway.
 *
 * @module
 */

import type { HermesPaths } from "../config/home.ts";
import { isGatewayCommand, readIdentity } from "./identity.ts";
import { type PidRecord, readPidRecordFile } from "./pid_record.ts";
import { lockState } from "./runtime_lock.ts";

/** The gateway process found running in a home. */
export interface RunningGateway {
  readonly pid: number;
  /** Start time from /proc; null when unknown. */
  readonly startTime: number | null;
  /** The record that named it (from gateway.pid or gateway.lock). */
  readonly record: PidRecord;
}

/** What {@linkcode findRunningGateway} found, and what it tidied up. */
export interface GatewaySearch {
  readonly running: RunningGateway | undefined;
  /** A PID record that named no live gateway and was removed (cleanupStale). */
  readonly removedStale?: PidRecord;
  /** The PID holding gateway.lock when that process is not a hermes gateway. */
  readonly foreignLockHolder?: number;
}

/**
 * Finds the gateway running in `paths.home`. With `cleanupStale`, a
 * `gateway.pid` that names no live gateway is removed (the lock file is kept:
 * deleting a lock file another process may be opening would let two
 * processes hold "the" lock).
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * const { running } = findRunningGateway(hermesPaths("/srv/hermes"));
 * if (running) console.log(`Gateway running (PID ${running.pid})`);
 * ```
 */
export function findRunningGateway(
  paths: HermesPaths,
  options: { cleanupStale?: boolean } = {},
): GatewaySearch {
  const pidRecord = readPidRecordFile(paths.pidFile);
  const named = pidRecord && asRunningGateway(pidRecord, paths.home);
  // The lock is asked only when gateway.pid names no live gateway: a read of /proc/locks
  // can take 10 ms or more (the kernel may wait for an RCU grace period first).
  if (named) return { running: named };
  const lock = lockState(paths.lockFile);
  const lockRecord = lock.held ? readPidRecordFile(paths.lockFile) : undefined;
  const held = lockRecord && asRunningGateway(lockRecord, paths.home);
  if (held) return { running: held };
  const removedStale = options.cleanupStale && pidRecord
    ? removeIfStill(paths.pidFile, pidRecord)
    : undefined;
  const foreignLockHolder = lock.held && lock.pid !== undefined ? lock.pid : undefined;
  return { running: undefined, removedStale, foreignLockHolder };
}

/**
 * The live gateway a record names, or undefined: the PID must be alive, the
 * start time must match (when both are known), the record must be of this
 * home (when it says), and the live command line must be a hermes gateway
 * (the record's argv decides when the command line is unreadable).
 */
export function asRunningGateway(record: PidRecord, home: string): RunningGateway | undefined {
  const live = readIdentity(record.pid);
  if (!live) return undefined;
  if (record.start_time !== null && live.startTime !== record.start_time) return undefined;
  if (record.hermes_home !== "" && record.hermes_home !== home) return undefined;
  const cmdline = live.cmdline.length > 0 ? live.cmdline : record.argv;
  if (!isGatewayCommand(cmdline)) return undefined;
  return { pid: record.pid, startTime: live.startTime, record };
}

function removeIfStill(path: string, stale: PidRecord): PidRecord | undefined {
  // Re-read right before removing: a gateway may have just written its record.
  const now = readPidRecordFile(path);
  if (!now || now.pid !== stale.pid || now.start_time !== stale.start_time) return undefined;
  try {
    Deno.removeSync(path);
    return stale;
  } catch {
    return undefined;
  }
}
