/**
 * `gateway_state.json`: what the running gateway says about itself, for
 * `hermes gateway status` and `hermes wecom probe` when no control socket
 * answers. Written atomically; every write re-stamps who wrote it and when.
 *
 * @module
 */

import { writeFileAtomic } from "../util/atomic_file.ts";
import { currentPidRecord, parsePidRecord, type PidRecord } from "./pid_record.ts";
import { VERSION } from "../version.ts";

/** The gateway's life stages. */
export type GatewayState =
  | "starting"
  | "running"
  | "draining"
  | "stopping"
  | "stopped"
  | "startup_failed";

/** All gateway states. */
export const GATEWAY_STATES: readonly GatewayState[] = [
  "starting",
  "running",
  "draining",
  "stopping",
  "stopped",
  "startup_failed",
];

/** A snapshot older than this is not trusted as the state of a live gateway. */
export const STATUS_STALE_MS = 120_000;

/** The content of gateway_state.json. */
export interface RuntimeStatus extends PidRecord {
  readonly gateway_state: GatewayState | null;
  readonly exit_reason: string | null;
  /** Agent turns in flight. */
  readonly active_agents: number;
  /** Platform name → its state and link health, filled by adapters. */
  readonly platforms: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly version: string;
  readonly updated_at: string;
  /** When this gateway started (ISO). */
  readonly started_at: string | null;
  /** The exit code of the last exit, once stopped. */
  readonly exit_code: number | null;
  /** When the gateway stopped serving its platforms (ISO), for handoff timing. */
  readonly serving_stopped_at: string | null;
  /** The drain budget in seconds, so that `gateway stop` knows how long to wait. */
  readonly drain_timeout_s: number | null;
  /** Who revives this gateway when it exits 75: `systemd`, `launchd`, ... or null. */
  readonly supervisor: string | null;
}

/** Fields a write may change; omitted fields keep their value, `null` clears. */
export type RuntimeStatusPatch = Partial<
  Pick<
    RuntimeStatus,
    | "gateway_state"
    | "exit_reason"
    | "active_agents"
    | "platforms"
    | "started_at"
    | "exit_code"
    | "serving_stopped_at"
    | "drain_timeout_s"
    | "supervisor"
  >
>;

/**
 * Serialises the gateway's writes to gateway_state.json so that concurrent
 * updates never lose each other's fields.
 *
 * @example
 * ```ts
 * const status = new RuntimeStatusWriter("/srv/hermes/gateway_state.json", "/srv/hermes");
 * await status.update({ gateway_state: "running" });
 * await status.update({ active_agents: 2 }); // gateway_state stays "running"
 * ```
 */
export class RuntimeStatusWriter {
  readonly #path: string;
  readonly #home: string;
  readonly #now: () => Date;
  #current: RuntimeStatus | undefined;
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string, home: string, now: () => Date = () => new Date()) {
    this.#path = path;
    this.#home = home;
    this.#now = now;
  }

  /** Merges `patch` into the status and writes it; resolves once on disk. */
  update(patch: RuntimeStatusPatch): Promise<void> {
    const write = this.#queue.then(async () => {
      const base = this.#current ?? readRuntimeStatus(this.#path);
      const next: RuntimeStatus = {
        gateway_state: null,
        exit_reason: null,
        platforms: {},
        started_at: null,
        exit_code: null,
        serving_stopped_at: null,
        drain_timeout_s: null,
        supervisor: null,
        ...base,
        ...patch,
        ...currentPidRecord(this.#home),
        active_agents: Math.max(
          0,
          Math.trunc(Number(patch.active_agents ?? base?.active_agents ?? 0)) || 0,
        ),
        version: VERSION,
        updated_at: this.#now().toISOString(),
      };
      await writeFileAtomic(this.#path, JSON.stringify(next), { mode: 0o600 });
      this.#current = next;
    });
    this.#queue = write.catch(() => {});
    return write;
  }
}

/**
 * Reads gateway_state.json; undefined when missing or not a status object.
 * Unknown states read as null and junk counts as 0 agents.
 */
export function readRuntimeStatus(path: string): RuntimeStatus | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  const record = parsePidRecord(text);
  if (!record || /^\s*\d+\s*$/.test(text)) return undefined; // a bare PID is no status
  const r = JSON.parse(text) as Record<string, unknown>;
  return {
    ...record,
    gateway_state: GATEWAY_STATES.includes(r.gateway_state as GatewayState)
      ? r.gateway_state as GatewayState
      : null,
    exit_reason: typeof r.exit_reason === "string" ? r.exit_reason : null,
    active_agents: Math.max(0, Math.trunc(Number(r.active_agents)) || 0),
    platforms:
      typeof r.platforms === "object" && r.platforms !== null && !Array.isArray(r.platforms)
        ? r.platforms as RuntimeStatus["platforms"]
        : {},
    version: typeof r.version === "string" ? r.version : "",
    updated_at: typeof r.updated_at === "string" ? r.updated_at : "",
    started_at: typeof r.started_at === "string" ? r.started_at : null,
    exit_code: Number.isInteger(r.exit_code) ? r.exit_code as number : null,
    serving_stopped_at: typeof r.serving_stopped_at === "string" ? r.serving_stopped_at : null,
    drain_timeout_s: typeof r.drain_timeout_s === "number" ? r.drain_timeout_s : null,
    supervisor: typeof r.supervisor === "string" ? r.supervisor : null,
  };
}

/**
 * Whether a snapshot is too old to describe a live gateway (over 120 s).
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * const status = readRuntimeStatus(hermesPaths("/srv/hermes").runtimeStatus);
 * if (status) isStatusStale(status, new Date()); // true when updated_at is 3 minutes ago
 * ```
 */
export function isStatusStale(status: RuntimeStatus, now: Date): boolean {
  const at = Date.parse(status.updated_at);
  return !Number.isFinite(at) || now.getTime() - at > STATUS_STALE_MS;
}
