/**
 * `hermes gateway run [--replace]` from start to exit code: find a running
 * gateway, prepare (configuration) before touching it, hand over from it when
 * replacing, claim the home (runtime lock, then PID file), back off in a
 * respawn storm, run until a stop request, drain, clean up.
 *
 * @module
 */

import type { HermesPaths } from "../config/home.ts";
import { describeLooseModes, looseModes } from "../config/home_modes.ts";
import { environmentWithDotenv, type LoadedConfig } from "../config/load.ts";
import { ConfigError, HermesError } from "../errors.ts";
import { releaseAllCredentialLocks } from "../process/credential_lock.ts";
import { ExitCode } from "../process/exit_codes.ts";
import { replaceGateway, type ReplaceOutcome } from "../process/handoff.ts";
import { claimPidFile, releasePidFile } from "../process/pid_file.ts";
import { currentPidRecord, type PidRecord, readPidRecordFile } from "../process/pid_record.ts";
import { asRunningGateway, findRunningGateway } from "../process/running_gateway.ts";
import { type HeldLock, tryAcquireLock } from "../process/runtime_lock.ts";
import { readRuntimeStatus, RuntimeStatusWriter } from "../process/runtime_status.ts";
import {
  appendStart,
  readStartLedger,
  recordDeadWindow,
  type StartEntry,
  stormDelaySeconds,
} from "../process/start_ledger.ts";
import type { Logger } from "../util/log.ts";
import { rotatingFileSink } from "../util/log_file.ts";
import { raceTimeout } from "../util/race_timeout.ts";
import { Gateway } from "./gateway.ts";
import type { StopRequest } from "./stop_request.ts";
import { listenForStopSignals } from "./stop_signals.ts";
import { createServices, preparePlatforms } from "./services.ts";

/** How long a replaced gateway may drain before its successor resumes its work. */
export const TAKEOVER_DRAIN_MS = 5_000;

/** What `runGateway` needs. */
export interface RunGatewayOptions {
  readonly paths: HermesPaths;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  /** Take over from a running gateway instead of refusing to start. */
  readonly replace: boolean;
  /** Loads and validates the configuration (throws ConfigError). */
  readonly loadConfig: () => Promise<LoadedConfig>;
  /** The credential lock folder (adapters' machine-wide bot credential locks). */
  readonly lockDir: string;
}

/**
 * Runs the gateway in this process until it is asked to stop; returns the
 * exit code (0 planned, 75 restart me). Throws a HermesError (exit 1) when a
 * gateway already runs and `replace` is off, ConfigError (78) when the
 * configuration is invalid or a platform cannot connect as configured (its
 * port is taken, ...); both ConfigError cases are recorded as `startup_failed`.
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * import { loadConfig } from "../config/load.ts";
 * import { credentialLockDir } from "../process/credential_lock.ts";
 * import type { Logger } from "../util/log.ts";
 * declare const log: Logger;
 * const paths = hermesPaths("/srv/hermes");
 * const env = Deno.env.toObject();
 * Deno.exit(
 *   await runGateway({
 *     paths,
 *     env,
 *     log,
 *     replace: false,
 *     loadConfig: () => loadConfig({ paths, env }),
 *     lockDir: credentialLockDir(env),
 *   }),
 * );
 * ```
 */
export async function runGateway(options: RunGatewayOptions): Promise<number> {
  const { paths, log } = options;
  // Stop requests that arrive before the gateway exists are kept for it.
  const route: { gateway?: Gateway; early?: StopRequest } = {};
  const self = currentPidRecord(paths.home);
  using _signals = listenForStopSignals(
    paths,
    { pid: self.pid, startTime: self.start_time, home: paths.home },
    (request) => route.gateway ? route.gateway.requestStop(request) : (route.early ??= request),
  );

  const search = findRunningGateway(paths, { cleanupStale: true });
  if (search.removedStale) {
    log.info("removed a stale PID record", { pid: search.removedStale.pid });
  }
  if (search.running && !options.replace) throw alreadyRunning(search.running.pid);

  const loaded = await prepare(options, search.running === undefined);
  const config = loaded.config;
  using fileSink = rotatingFileSink(paths.gatewayLog, {
    maxBytes: config.logging.max_file_bytes,
    maxFiles: config.logging.max_files,
  });
  using _fileLogging = log.addSink(fileSink);
  // Named, never changed: the folder is the operator's.
  const loose = looseModes(paths);
  if (loose.length > 0) log.warn(describeLooseModes(loose), { loose_modes: loose });
  const gateway = new Gateway({
    paths,
    log,
    drainTimeoutMs: config.gateway.drain_timeout * 1000,
    takeoverDrainMs: TAKEOVER_DRAIN_MS,
    supervisor: detectSupervisor(options.env),
  });
  route.gateway = gateway;
  if (route.early) return route.early.exitCode; // asked to stop before owning anything

  let handoff: { outcome: ReplaceOutcome; servingStoppedAt: number } | undefined;
  if (search.running) {
    log.info("replacing the running gateway", { pid: search.running.pid });
    const outcome = await replaceGateway(paths, search.running, { lockDir: options.lockDir });
    const old = readRuntimeStatus(paths.runtimeStatus);
    const stoppedAt = old?.pid === search.running.pid && old.serving_stopped_at
      ? Date.parse(old.serving_stopped_at)
      : NaN;
    handoff = {
      outcome,
      servingStoppedAt: Number.isFinite(stoppedAt) ? stoppedAt : outcome.goneAt,
    };
    log.info("the old gateway is gone", { pid: search.running.pid, killed: outcome.killed });
  }

  using _lock = claimHome(paths, self);
  try {
    const previous = readRuntimeStatus(paths.runtimeStatus);
    const kind: StartEntry["kind"] = handoff
      ? "replace"
      : previous?.gateway_state === "stopped" && previous.exit_code === ExitCode.Ok
      ? "after_planned_stop"
      : "unplanned";
    const delay = stormDelaySeconds(readStartLedger(paths.startsLog), new Date());
    await appendStart(paths.startsLog, { at: new Date().toISOString(), pid: Deno.pid, kind });
    await gateway.announceStarting();
    if (delay > 0) await backOff(gateway, delay, log);
    if (!gateway.stopping) {
      await gateway.start(createServices({
        config,
        env: environmentWithDotenv(loaded, options.env),
        paths,
        log,
        track: (label, work) => gateway.track(label, work),
        status: () => gateway.snapshot(),
        lockDir: options.lockDir,
      }));
      if (handoff) {
        const ms = Date.now() - handoff.servingStoppedAt;
        await recordDeadWindow(paths.startsLog, Deno.pid, ms);
        log.info("handoff complete", { dead_window_ms: ms });
        handoff.outcome.childrenReaped.then((n) => {
          if (n > 0) log.info("reaped children of the old gateway", { count: n });
        });
      }
    }
    const request = await gateway.stopRequested;
    await gateway.shutdown(request);
    return request.exitCode;
  } catch (error) {
    // A platform that cannot connect as configured fails the start (78, do not restart).
    if (error instanceof ConfigError) await gateway.recordStartupFailure(error);
    else await gateway.recordCrash(error);
    throw error;
  } finally {
    releasePidFile(paths.pidFile, Deno.pid);
    await releaseAllCredentialLocks(options.lockDir, { pid: self.pid, startTime: self.start_time });
  }
}

/**
 * Who revives this gateway when it exits 75: `HERMES_SUPERVISOR` when set
 * (the units `gateway install` writes set it), else systemd (INVOCATION_ID)
 * or launchd (XPC_SERVICE_NAME), else nobody.
 *
 * @example
 * ```ts
 * detectSupervisor({ INVOCATION_ID: "4f0c..." }); // "systemd"
 * ```
 */
export function detectSupervisor(env: Readonly<Record<string, string | undefined>>): string | null {
  if (env.HERMES_SUPERVISOR) return env.HERMES_SUPERVISOR;
  if (env.INVOCATION_ID) return "systemd";
  if (env.XPC_SERVICE_NAME && env.XPC_SERVICE_NAME !== "0") return "launchd";
  return null;
}

function alreadyRunning(pid: number): HermesError {
  return new HermesError("gateway_running", `Gateway already running (PID ${pid})`, {
    hints: [
      "restart it gracefully:  hermes gateway restart",
      "stop it:                hermes gateway stop",
      "take over from it:      hermes gateway run --replace",
    ],
  });
}

/** Loads the configuration; a broken one is recorded as startup_failed (unless another gateway serves). */
async function prepare(options: RunGatewayOptions, homeIsFree: boolean): Promise<LoadedConfig> {
  try {
    const loaded = await options.loadConfig();
    await preparePlatforms(
      loaded.config,
      environmentWithDotenv(loaded, options.env),
      options.paths.home,
    );
    return loaded;
  } catch (error) {
    if (error instanceof ConfigError && homeIsFree) {
      await new RuntimeStatusWriter(options.paths.runtimeStatus, options.paths.home).update({
        gateway_state: "startup_failed",
        exit_reason: error.message,
        exit_code: ExitCode.Config,
        active_agents: 0,
      }).catch(() => {});
    }
    throw error;
  }
}

/**
 * Takes the runtime lock, then creates the PID file. A PID file left by a
 * dead gateway is removed first (holding the lock proves it stale).
 */
function claimHome(paths: HermesPaths, self: PidRecord): HeldLock {
  const again = findRunningGateway(paths);
  if (again.running && again.running.pid !== self.pid) {
    throw new HermesError(
      "gateway_running",
      `Another gateway (PID ${again.running.pid}) started while this one was starting`,
      { hints: ["take over from it:  hermes gateway run --replace"] },
    );
  }
  const lock = tryAcquireLock(paths.lockFile, self);
  if (!lock) {
    const holder = again.foreignLockHolder;
    throw new HermesError(
      "lock_held",
      `Cannot take ${paths.lockFile}: ${
        holder ? `process ${holder}` : "another process"
      } holds it and is not a hermes gateway of this home`,
      { hints: ["find it with: fuser -v " + paths.lockFile] },
    );
  }
  let claimed = claimPidFile(paths.pidFile, self);
  if (!claimed) {
    const existing = readPidRecordFile(paths.pidFile);
    if (!existing || !asRunningGateway(existing, paths.home)) {
      Deno.removeSync(paths.pidFile);
      claimed = claimPidFile(paths.pidFile, self);
    }
  }
  if (!claimed) {
    lock.release();
    throw new HermesError("pid_race", `PID file race lost: ${paths.pidFile} was created meanwhile`);
  }
  return lock;
}

async function backOff(gateway: Gateway, seconds: number, log: Logger): Promise<void> {
  log.warn(
    `respawn storm: more than 5 unplanned starts in the last 120 s; waiting ${seconds} s before starting`,
    { delay_s: seconds },
  );
  await raceTimeout(gateway.stopRequested, seconds * 1000);
}
