/**
 * What `hermes gateway status` reports: asked of the running gateway over its
 * control socket when one answers, read from gateway_state.json otherwise.
 *
 * @module
 */

import type { HermesPaths } from "../config/home.ts";
import { type LooseMode, looseModes } from "../config/home_modes.ts";
import { findRunningGateway } from "../process/running_gateway.ts";
import { readRuntimeStatus, type RuntimeStatus } from "../process/runtime_status.ts";
import { callControl } from "./control_client.ts";

/** The status of a home's gateway. */
export interface GatewayStatusReport {
  readonly running: boolean;
  readonly pid: number | null;
  /** `starting`, `running`, `draining`, `stopping`, `stopped`, `startup_failed`, or null (never ran). */
  readonly state: string | null;
  readonly started_at: string | null;
  readonly uptime_s: number | null;
  /**
   * Platform name → `{state, connected, ...link health}`. When no gateway
   * runs, none is connected: a cleanly stopped gateway's platforms read
   * `stopped` with `stopped_at`; those of a gateway that died without a clean
   * exit read `stopped` with `stopped_at` null and `last_seen_at` (the state
   * file's last write); one whose configuration kept it from starting reads
   * `fatal`.
   */
  readonly platforms: Readonly<Record<string, unknown>>;
  readonly home: string;
  /** The home and state folders other users can open (hermes never changes them itself). */
  readonly loose_modes: readonly LooseMode[];
  /** Why the gateway last stopped or failed, or what it is stopping for. */
  readonly exit_reason: string | null;
  readonly exit_code: number | null;
  readonly active_work: number;
  /** Reply parts by state (`undeliverable`: given up), while a gateway runs. */
  readonly outbox: Readonly<Record<string, number>> | null;
  /** The state store's backend and its link to the database server (`up`, `error`, `since`), while a gateway runs. */
  readonly storage?: {
    readonly backend: string;
    readonly up: boolean;
    readonly error?: string;
    readonly since?: string;
  } | null;
  readonly supervisor: string | null;
  readonly drain_timeout_s: number | null;
  /** Where the answer came from. */
  readonly source: "socket" | "state_file" | "none";
  /** A PID record naming no live gateway that was removed while looking. */
  readonly stale_record_removed: number | null;
}

/**
 * Gathers the status of the gateway of `paths.home`. With `cleanupStale`, a
 * stale `gateway.pid` is removed on the way.
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * const report = await gatherStatus(hermesPaths("/srv/hermes"), { cleanupStale: true });
 * report.running; // false
 * ```
 */
export async function gatherStatus(
  paths: HermesPaths,
  options: { cleanupStale?: boolean; timeoutMs?: number } = {},
): Promise<GatewayStatusReport> {
  const search = findRunningGateway(paths, { cleanupStale: options.cleanupStale });
  const file = readRuntimeStatus(paths.runtimeStatus);
  const stale = search.removedStale?.pid ?? null;
  if (search.running) {
    const pid = search.running.pid;
    const live = await askGateway(paths, options.timeoutMs);
    const own = fromFile(paths, file?.pid === pid ? file : undefined);
    if (live && live.pid === pid) {
      return {
        running: true,
        pid,
        ...own,
        ...pickKnown(live),
        source: "socket",
        stale_record_removed: stale,
      };
    }
    return { running: true, pid, ...own, stale_record_removed: stale };
  }
  const last = fromFile(paths, file);
  const diedUnclean = file !== undefined &&
    ["starting", "running", "draining", "stopping"].includes(file.gateway_state ?? "");
  return {
    running: false,
    pid: null,
    ...last,
    platforms: offline(last.platforms, file?.updated_at || null),
    state: diedUnclean ? "stopped" : last.state,
    exit_reason: diedUnclean
      ? `PID ${file.pid} is gone without a clean exit (killed or crashed)`
      : last.exit_reason,
    uptime_s: null,
    active_work: 0,
    stale_record_removed: stale,
  };
}

/**
 * The platforms of a gateway that is gone: none connected, each `stopped`
 * (or `fatal`, when its configuration kept it from starting). A stop time is
 * kept only when the gateway recorded one, never made up; a platform without
 * one (the gateway died without a clean exit) says when it was last seen
 * instead: the state file's last write.
 */
function offline(
  platforms: Readonly<Record<string, unknown>>,
  lastSeen: string | null,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(platforms)) {
    const health = typeof value === "object" && value !== null
      ? value as Record<string, unknown>
      : {};
    if (health.state === "fatal") {
      out[name] = { ...health, connected: false };
      continue;
    }
    const stoppedAt = health.state === "stopped" && typeof health.stopped_at === "string"
      ? health.stopped_at
      : null;
    out[name] = {
      ...health,
      state: "stopped",
      connected: false,
      stopped_at: stoppedAt,
      ...(stoppedAt === null ? { last_seen_at: lastSeen } : {}),
    };
  }
  return out;
}

async function askGateway(
  paths: HermesPaths,
  timeoutMs = 2_000,
): Promise<Record<string, unknown> | undefined> {
  try {
    const answer = await callControl(paths.controlSocket, "status", {}, { timeoutMs });
    return typeof answer === "object" && answer !== null
      ? answer as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

function fromFile(
  paths: HermesPaths,
  file: RuntimeStatus | undefined,
): Omit<GatewayStatusReport, "running" | "pid" | "stale_record_removed"> {
  const started = file?.started_at ? Date.parse(file.started_at) : NaN;
  return {
    state: file?.gateway_state ?? null,
    started_at: file?.started_at ?? null,
    uptime_s: Number.isFinite(started) ? Math.round((Date.now() - started) / 1000) : null,
    platforms: file?.platforms ?? {},
    home: paths.home,
    loose_modes: looseModes(paths),
    exit_reason: file?.exit_reason ?? null,
    exit_code: file?.exit_code ?? null,
    active_work: file?.active_agents ?? 0,
    outbox: null,
    storage: null,
    supervisor: file?.supervisor ?? null,
    drain_timeout_s: file?.drain_timeout_s ?? null,
    source: file ? "state_file" : "none",
  };
}

/** The fields of a live answer that the report carries, typed. */
function pickKnown(live: Record<string, unknown>): Partial<GatewayStatusReport> {
  const picked: Record<string, unknown> = {};
  for (
    const key of [
      "state",
      "started_at",
      "uptime_s",
      "platforms",
      "active_work",
      "outbox",
      "storage",
      "supervisor",
      "drain_timeout_s",
    ]
  ) {
    if (live[key] !== undefined) picked[key] = live[key];
  }
  if (typeof live.stop_reason === "string") picked.exit_reason = live.stop_reason;
  return picked as Partial<GatewayStatusReport>;
}
