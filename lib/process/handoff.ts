/**
 * Stopping the running gateway on purpose: `gateway stop` (planned-stop
 * marker, SIGTERM, wait) and the first half of `gateway run --replace`
 * (takeover marker, SIGTERM, wait, SIGKILL). Both leave the marker first so
 * that the old gateway exits 0 and its supervisor does not revive it, and
 * both send every signal through the start-time guard.
 *
 * @module
 */

import type { HermesPaths } from "../config/home.ts";
import { HermesError } from "../errors.ts";
import { releaseAllCredentialLocks } from "./credential_lock.ts";
import { signalIfSame, waitForExit } from "./guarded_kill.ts";
import { childrenOf, type ProcessIdentity } from "./identity.ts";
import { writePlannedStopMarker, writeTakeoverMarker } from "./markers.ts";
import { releasePidFile } from "./pid_file.ts";
import type { RunningGateway } from "./running_gateway.ts";

/** How long the old gateway gets to drain and exit after SIGTERM before SIGKILL. */
export const REPLACE_GRACE_MS = 10_000;
/** How long a process may take to vanish after SIGKILL. */
const AFTER_KILL_MS = 5_000;

/** How a replaced gateway went away. */
export interface ReplaceOutcome {
  /** `Date.now()` when the old process was seen gone. */
  readonly goneAt: number;
  /** Whether it had to be killed (it did not exit within the grace period). */
  readonly killed: boolean;
  /** Resolves when the old gateway's orphaned children have been reaped. */
  readonly childrenReaped: Promise<number>;
}

/**
 * Makes the running gateway `target` go away so that this process can take
 * over: takeover marker, SIGTERM, up to 10 s to exit, SIGKILL (start time
 * guarded), then clean-up of its PID file, credential locks and orphaned
 * children. Throws a HermesError (and clears the marker) when it cannot.
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * import { credentialLockDir } from "./credential_lock.ts";
 * import { findRunningGateway } from "./running_gateway.ts";
 * const paths = hermesPaths("/srv/hermes");
 * const lockDir = credentialLockDir(Deno.env.toObject());
 * const { running } = findRunningGateway(paths);
 * if (running) await replaceGateway(paths, running, { lockDir });
 * ```
 */
export async function replaceGateway(
  paths: HermesPaths,
  target: RunningGateway,
  options: { lockDir: string; graceMs?: number },
): Promise<ReplaceOutcome> {
  if (target.record.hermes_home !== paths.home) {
    throw new HermesError(
      "replace_refused",
      `Cannot replace the gateway with PID ${target.pid}: its PID record does not say that it serves ${paths.home}; stop it by hand`,
    );
  }
  const children = childrenOf(target.pid);
  const marker = { pid: target.pid, startTime: target.startTime, home: paths.home };
  if (!await writeTakeoverMarker(paths.takeoverMarker, marker)) {
    throw new HermesError(
      "replace_failed",
      `Cannot write the takeover marker ${paths.takeoverMarker}; the gateway with PID ${target.pid} was not signalled`,
    );
  }
  let killed = false;
  try {
    signalOrExplain(target, "SIGTERM");
    const exited = await waitForExit(target.pid, target.startTime, {
      timeoutMs: options.graceMs ?? REPLACE_GRACE_MS,
    });
    if (!exited) {
      killed = signalIfSame(target.pid, target.startTime, "SIGKILL") === "sent";
      if (!await waitForExit(target.pid, target.startTime, { timeoutMs: AFTER_KILL_MS })) {
        throw new HermesError(
          "replace_failed",
          `Cannot replace the gateway with PID ${target.pid}: it still appears alive after SIGKILL`,
        );
      }
    }
  } catch (error) {
    await removeQuietly(paths.takeoverMarker);
    throw error;
  }
  const goneAt = Date.now();
  await removeQuietly(paths.takeoverMarker);
  releasePidFile(paths.pidFile, target.pid);
  await releaseAllCredentialLocks(options.lockDir, {
    pid: target.pid,
    startTime: target.startTime,
  });
  return { goneAt, killed, childrenReaped: reapChildren(children) };
}

/** How a stop request ended. */
export interface StopOutcome {
  /** Whether the gateway is gone. */
  readonly stopped: boolean;
  /** Whether it was killed after not stopping within the timeout (`force`). */
  readonly killed: boolean;
}

/**
 * Asks the running gateway `target` to stop: planned-stop marker, one
 * SIGTERM, and up to `timeoutMs` for it to drain and exit. With `force`, a
 * gateway still running after that is killed (start time guarded).
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * import { credentialLockDir } from "./credential_lock.ts";
 * import { findRunningGateway } from "./running_gateway.ts";
 * const paths = hermesPaths("/srv/hermes");
 * const lockDir = credentialLockDir(Deno.env.toObject());
 * const { running } = findRunningGateway(paths);
 * if (running) await stopGateway(paths, running, { timeoutMs: 195_000, lockDir });
 * ```
 */
export async function stopGateway(
  paths: HermesPaths,
  target: RunningGateway,
  options: { timeoutMs: number; force?: boolean; lockDir: string },
): Promise<StopOutcome> {
  const marker = { pid: target.pid, startTime: target.startTime, home: paths.home };
  if (!await writePlannedStopMarker(paths.plannedStopMarker, marker)) {
    throw new HermesError(
      "stop_failed",
      `Cannot write the planned-stop marker ${paths.plannedStopMarker}; the gateway with PID ${target.pid} was not signalled`,
    );
  }
  try {
    signalOrExplain(target, "SIGTERM");
  } catch (error) {
    await removeQuietly(paths.plannedStopMarker);
    throw error;
  }
  let stopped = await waitForExit(target.pid, target.startTime, { timeoutMs: options.timeoutMs });
  let killed = false;
  if (!stopped && options.force) {
    killed = signalIfSame(target.pid, target.startTime, "SIGKILL") === "sent";
    stopped = await waitForExit(target.pid, target.startTime, { timeoutMs: AFTER_KILL_MS });
  }
  if (stopped) {
    await removeQuietly(paths.plannedStopMarker);
    releasePidFile(paths.pidFile, target.pid);
    if (killed) {
      await releaseAllCredentialLocks(options.lockDir, {
        pid: target.pid,
        startTime: target.startTime,
      });
    }
  }
  return { stopped, killed };
}

function signalOrExplain(target: RunningGateway, signal: Deno.Signal): void {
  try {
    signalIfSame(target.pid, target.startTime, signal);
  } catch (error) {
    throw new HermesError(
      "signal_failed",
      `Cannot send ${signal} to the gateway with PID ${target.pid}: ${
        error instanceof Error ? error.message : String(error)
      }; run this command as the user who started the gateway`,
      { cause: error },
    );
  }
}

/** SIGTERM, 5 s, then SIGKILL for children the old gateway left behind. */
async function reapChildren(children: readonly ProcessIdentity[]): Promise<number> {
  let reaped = 0;
  for (const child of children) {
    if (signalIfSame(child.pid, child.startTime, "SIGTERM") !== "sent") continue;
    reaped++;
    if (!await waitForExit(child.pid, child.startTime, { timeoutMs: 5_000 })) {
      signalIfSame(child.pid, child.startTime, "SIGKILL");
    }
  }
  return reaped;
}

async function removeQuietly(path: string): Promise<void> {
  await Deno.remove(path).catch(() => {});
}
