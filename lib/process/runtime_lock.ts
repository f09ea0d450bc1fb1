/**
 * The runtime lock: an exclusive flock on `gateway.lock`, held by the gateway
 * for its whole life. The kernel releases it when the holder dies, even by
 * SIGKILL, so "is a gateway running here" is answered by the lock first.
 *
 * @module
 */

import type { PidRecord } from "./pid_record.ts";
import { writeAllSync } from "../util/write_all.ts";

/** A held runtime lock; dispose (or `release()`) to free it. */
export interface HeldLock extends Disposable {
  readonly path: string;
  /** Frees the lock. Safe to call twice. */
  release(): void;
}

/**
 * Takes the lock at `path` without waiting and writes `record` into the file.
 * Undefined when another process holds it.
 *
 * @example
 * ```ts
 * import { currentPidRecord } from "./pid_record.ts";
 * using lock = tryAcquireLock("/srv/hermes/gateway.lock", currentPidRecord("/srv/hermes"));
 * if (!lock) console.error("Gateway already running");
 * ```
 */
export function tryAcquireLock(path: string, record: PidRecord): HeldLock | undefined {
  const file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
  let locked = false;
  try {
    locked = file.tryLockSync(true);
  } finally {
    if (!locked) file.close();
  }
  if (!locked) return undefined;
  file.truncateSync(0);
  writeAllSync(file, new TextEncoder().encode(`${JSON.stringify(record)}\n`));
  file.syncSync();
  let open = true;
  const release = () => {
    if (!open) return;
    open = false;
    file.close(); // closing the descriptor drops the flock
  };
  return { path, release, [Symbol.dispose]: release };
}

/** Who holds a lock file, as far as can be told without disturbing it. */
export interface LockState {
  readonly held: boolean;
  /** The holder's PID, when the system says (Linux /proc/locks). */
  readonly pid?: number;
}

/**
 * Whether some process holds the lock at `path`. On Linux this reads
 * `/proc/locks`, so probing never takes the lock and can never make a
 * starting gateway fail its claim; elsewhere it briefly tries the lock.
 *
 * @example
 * ```ts
 * lockState("/srv/hermes/gateway.lock"); // { held: true, pid: 4242 }
 * ```
 */
export function lockState(path: string): LockState {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    return { held: false };
  }
  const fromProc = procLocksHolder(info);
  if (fromProc !== null) return fromProc;
  const probe = tryProbe(path);
  return { held: probe };
}

/** Reads /proc/locks; null when it cannot (not Linux). */
function procLocksHolder(info: Deno.FileInfo): LockState | null {
  let table: string;
  try {
    table = Deno.readTextFileSync("/proc/locks");
  } catch {
    return null;
  }
  const dev = info.dev;
  const major = Number((BigInt(dev) >> 8n) & 0xfffn | ((BigInt(dev) >> 32n) & ~0xfffn));
  const minor = Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & ~0xffn));
  for (const line of table.split("\n")) {
    // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:123456 0 EOF"; "->" lines are waiters.
    if (line.includes("->")) continue;
    const parts = line.trim().split(/\s+/);
    if (parts[1] !== "FLOCK") continue;
    const [maj, min, ino] = (parts[5] ?? "").split(":");
    if (Number(ino) !== info.ino) continue;
    if (parseInt(maj ?? "", 16) !== major || parseInt(min ?? "", 16) !== minor) continue;
    const pid = Number(parts[4]);
    return pid > 0 ? { held: true, pid } : { held: true };
  }
  return { held: false };
}

function tryProbe(path: string): boolean {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: true });
  } catch {
    return false;
  }
  try {
    return !file.tryLockSync(true);
  } finally {
    file.close();
  }
}
