/**
 * The gateway's own life once it owns the home: start (status, control
 * socket, platforms), serve until asked to stop, drain in-flight work, stop.
 * Claiming the home and handing over from an older gateway happen before, in
 * `run_gateway.ts`.
 *
 * Work in flight (an agent turn, a delivery) is registered with `track()`.
 * A drain waits for it up to the drain budget; whatever is still running
 * then is handed to the drain-timeout hooks, which mark it for resumption
 * by the next gateway.
 *
 * @module
 */

import type { HermesPaths } from "../config/home.ts";
import type { ConfigError } from "../errors.ts";
import { type GatewayState, RuntimeStatusWriter } from "../process/runtime_status.ts";
import type { Logger } from "../util/log.ts";
import { type ControlServer, serveControl } from "./control_server.ts";
import { raceTimeout } from "../util/race_timeout.ts";
import { STOP_REQUESTS, type StopRequest } from "./stop_request.ts";
import type { GatewayServices } from "./services.ts";

/** One piece of in-flight work. */
export interface TrackedWork {
  readonly id: number;
  readonly label: string;
  /** `Date.now()` when it began. */
  readonly since: number;
}

/** Called with the work still running when a drain runs out of time. */
export type DrainTimeoutHook = (pending: readonly TrackedWork[]) => void | Promise<void>;

/** What a gateway needs from the outside. */
export interface GatewayOptions {
  readonly paths: HermesPaths;
  readonly log: Logger;
  /** How long a drain waits for in-flight work (gateway.drain_timeout). */
  readonly drainTimeoutMs: number;
  /** The shorter budget when a replacement takes over (it resumes the rest). */
  readonly takeoverDrainMs: number;
  /** Who revives this gateway when it exits 75, if anyone. */
  readonly supervisor: string | null;
  /** A monotonic clock in ms, for telling repeated stop requests apart (default: `performance.now`). */
  readonly clock?: () => number;
}

/**
 * Stop requests this close to the first are the same request: one Ctrl-C
 * under `deno task` arrives more than once, from the terminal's process
 * group and again forwarded by each `deno task` above the gateway.
 */
export const REPEATED_STOP_WINDOW_MS = 1_000;

/** How often at most the count of turns in flight is written to gateway_state.json. */
const ACTIVE_COUNT_INTERVAL_MS = 1_000;

/**
 * A started gateway.
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * import type { Logger } from "../util/log.ts";
 * declare const log: Logger;
 * const gateway = new Gateway({
 *   paths: hermesPaths("/srv/hermes"),
 *   log,
 *   drainTimeoutMs: 180_000,
 *   takeoverDrainMs: 5_000,
 *   supervisor: null,
 * });
 * await gateway.start();
 * const request = await gateway.stopRequested;
 * await gateway.shutdown(request);
 * ```
 */
export class Gateway {
  readonly #options: GatewayOptions;
  readonly #status: RuntimeStatusWriter;
  readonly #work = new Map<number, TrackedWork>();
  readonly #drainHooks: DrainTimeoutHook[] = [];
  readonly #stop = Promise.withResolvers<StopRequest>();
  readonly #hurry = Promise.withResolvers<void>();
  #workSettled = Promise.withResolvers<void>();
  #nextWorkId = 1;
  #stopRequest: StopRequest | undefined;
  #stopRequestedAt = 0;
  #state: GatewayState = "starting";
  #control: ControlServer | undefined;
  #services: GatewayServices | undefined;
  #activeWrite: Promise<void> | undefined;
  #activeDirty = false;
  /** A write of the count waiting for its second to come (at most one write a second). */
  #activeTimer: ReturnType<typeof setTimeout> | undefined;
  #activeWrittenAt = -Infinity;
  readonly startedAt = new Date();

  constructor(options: GatewayOptions) {
    this.#options = options;
    this.#status = new RuntimeStatusWriter(options.paths.runtimeStatus, options.paths.home);
  }

  /** Resolves with the first stop request (signal, control socket, caller). */
  get stopRequested(): Promise<StopRequest> {
    return this.#stop.promise;
  }

  /** Whether a stop has been requested. */
  get stopping(): boolean {
    return this.#stopRequest !== undefined;
  }

  /** The gateway's life stage. */
  get state(): GatewayState {
    return this.#state;
  }

  /** Pieces of work in flight. */
  get activeWork(): number {
    return this.#work.size;
  }

  /** Records that this gateway is starting (status `starting`, exit fields cleared). */
  async announceStarting(extra: Record<string, unknown> = {}): Promise<void> {
    await this.#status.update({
      gateway_state: "starting",
      exit_reason: null,
      exit_code: null,
      serving_stopped_at: null,
      active_agents: 0,
      platforms: {},
      started_at: this.startedAt.toISOString(),
      drain_timeout_s: this.#options.drainTimeoutMs / 1000,
      supervisor: this.#options.supervisor,
      ...extra,
    });
  }

  /** Opens the control socket and the services (state, platforms, pipeline), then reports `running`. */
  async start(services?: GatewayServices): Promise<void> {
    this.#control = await serveControl(this.#options.paths.controlSocket, {
      status: () => this.snapshot(),
      drain: (params) => this.#drainOverControl(params),
      ...services?.methods,
    }, this.#options.log);
    this.#services = services;
    if (services) this.onDrainTimeout(() => services.interruptRunning());
    this.#state = "running";
    await services?.start();
    await this.#status.update({ gateway_state: "running", platforms: services?.platforms() ?? {} });
    this.#options.log.info("gateway running", {
      pid: Deno.pid,
      home: this.#options.paths.home,
      platforms: Object.keys(services?.platforms() ?? {}).join(", ") || "none",
    });
  }

  /**
   * Asks the gateway to stop. The first request decides the exit code; one
   * more than {@linkcode REPEATED_STOP_WINDOW_MS} after it cuts the drain
   * short (Ctrl-C twice); one within that window is the first one arriving
   * again and changes nothing. Returns whether this request was the first.
   */
  requestStop(request: StopRequest): boolean {
    const now = this.#now();
    if (this.#stopRequest) {
      const sinceFirstMs = now - this.#stopRequestedAt;
      if (sinceFirstMs <= REPEATED_STOP_WINDOW_MS) {
        this.#options.log.debug("repeated stop request counts as the first", {
          reason: request.reason,
          since_first_ms: Math.round(sinceFirstMs),
        });
        return false;
      }
      this.#options.log.warn("second stop request: not waiting for in-flight work any longer", {
        pending: this.#work.size,
      });
      this.#hurry.resolve();
      return false;
    }
    this.#stopRequest = request;
    this.#stopRequestedAt = now;
    this.#stop.resolve(request);
    return true;
  }

  /**
   * Runs `work` as in-flight work: a drain waits for it.
   *
   * @example
   * ```ts
   * import { runTurn, type TurnContext } from "./turn.ts";
   * declare const gateway: Gateway, context: TurnContext;
   * await gateway.track("agent turn wecom:dm:alice", runTurn(context));
   * ```
   */
  track<T>(label: string, work: Promise<T>): Promise<T> {
    const entry = { id: this.#nextWorkId++, label, since: Date.now() };
    this.#work.set(entry.id, entry);
    this.#publishActiveCount();
    const done = () => {
      this.#work.delete(entry.id);
      this.#publishActiveCount();
      if (this.#work.size === 0) this.#workSettled.resolve();
    };
    return work.finally(done);
  }

  /**
   * Writes the number of turns in flight to gateway_state.json: at most one
   * write a second (each is an fsync), the latest count written at the end of
   * it, so a busy gateway neither writes the file per message nor shows a
   * count older than a second.
   */
  #publishActiveCount(): void {
    if (this.#activeWrite || this.#activeTimer !== undefined) {
      this.#activeDirty = true;
      return;
    }
    // While draining each count is written at once: no timer may outlive the stop.
    const wait = this.#state === "running"
      ? this.#activeWrittenAt + ACTIVE_COUNT_INTERVAL_MS - performance.now()
      : 0;
    if (wait > 0) {
      this.#activeTimer = setTimeout(() => {
        this.#activeTimer = undefined;
        this.#activeDirty = false;
        this.#publishActiveCount();
      }, wait);
      return;
    }
    this.#activeWrittenAt = performance.now();
    this.#activeWrite = this.#status.update({ active_agents: this.#work.size })
      .catch(() => {})
      .finally(() => {
        this.#activeWrite = undefined;
        if (this.#activeDirty) {
          this.#activeDirty = false;
          this.#publishActiveCount();
        }
      });
  }

  /** Adds a hook that receives the work a drain had to abandon, to resume it later. */
  onDrainTimeout(hook: DrainTimeoutHook): void {
    this.#drainHooks.push(hook);
  }

  /**
   * Drains and stops: no new work (state `draining`), waits for in-flight
   * work up to the budget, hands leftovers to the drain-timeout hooks, stops
   * the platforms, closes the control socket and records `stopped` with the
   * request's reason and exit code.
   */
  async shutdown(request: StopRequest): Promise<void> {
    const log = this.#options.log;
    const budgetMs = request.reason === "replaced"
      ? Math.min(this.#options.drainTimeoutMs, this.#options.takeoverDrainMs)
      : this.#options.drainTimeoutMs;
    this.#state = "draining";
    clearTimeout(this.#activeTimer); // the final state says 0
    this.#activeTimer = undefined;
    this.#services?.hold();
    await this.#status.update({ gateway_state: "draining", exit_reason: request.detail });
    log.info("draining", {
      reason: request.reason,
      in_flight: this.#work.size,
      budget_ms: budgetMs,
    });
    const pending = await this.#drain(budgetMs);
    if (pending.length > 0) {
      log.warn("drain budget spent; marking unfinished work for resume", {
        pending: pending.map((w) => w.label),
      });
      for (const hook of this.#drainHooks) {
        try {
          await hook(pending);
        } catch (error) {
          log.error("drain-timeout hook failed", { error });
        }
      }
    }
    this.#state = "stopping";
    await this.#services?.stop();
    // From now on this gateway serves no one; its platforms read stopped.
    await this.#status.update({
      gateway_state: "stopping",
      serving_stopped_at: new Date().toISOString(),
      platforms: this.#services?.platforms() ?? {},
    });
    await this.#control?.close();
    this.#state = "stopped";
    await this.#status.update({
      gateway_state: "stopped",
      exit_reason: request.detail,
      exit_code: request.exitCode,
      active_agents: 0,
    });
    log.info("gateway stopped", { reason: request.reason, exit_code: request.exitCode });
  }

  /** Records a crash (exit 1) so that `gateway status` can tell why the gateway is gone. */
  async recordCrash(error: unknown): Promise<void> {
    await this.#stopAfterFailure();
    this.#state = "stopped";
    await this.#status.update({
      gateway_state: "stopped",
      exit_reason: `crashed: ${error instanceof Error ? error.message : String(error)}`,
      exit_code: 1,
      active_agents: 0,
      platforms: this.#services?.platforms() ?? {},
    }).catch(() => {});
  }

  /**
   * Records a start that failed on the configuration (a platform that cannot
   * connect as configured): `startup_failed` with the error's message and its
   * exit code (78), so a supervisor and `gateway status` know not to retry.
   */
  async recordStartupFailure(error: ConfigError): Promise<void> {
    await this.#stopAfterFailure();
    this.#state = "startup_failed";
    await this.#status.update({
      gateway_state: "startup_failed",
      exit_reason: error.message,
      exit_code: error.exitCode,
      active_agents: 0,
      platforms: this.#services?.platforms() ?? {},
    }).catch(() => {});
  }

  /** What `hermes gateway status` shows, live. */
  snapshot(): Record<string, unknown> {
    const now = Date.now();
    return {
      running: true,
      pid: Deno.pid,
      state: this.#state,
      home: this.#options.paths.home,
      started_at: this.startedAt.toISOString(),
      uptime_s: Math.round((now - this.startedAt.getTime()) / 1000),
      active_work: this.#work.size,
      work: [...this.#work.values()].map((w) => ({
        label: w.label,
        age_s: Math.round((now - w.since) / 1000),
      })),
      platforms: this.#services?.platforms() ?? {},
      outbox: this.#services?.outbox() ?? null,
      storage: this.#services?.storage() ?? null,
      supervisor: this.#options.supervisor,
      drain_timeout_s: this.#options.drainTimeoutMs / 1000,
      stop_reason: this.#stopRequest?.reason ?? null,
    };
  }

  async #stopAfterFailure(): Promise<void> {
    await this.#services?.stop().catch(() => {});
    await this.#control?.close();
  }

  #now(): number {
    return this.#options.clock?.() ?? performance.now();
  }

  async #drain(budgetMs: number): Promise<TrackedWork[]> {
    if (this.#work.size === 0) return [];
    this.#workSettled = Promise.withResolvers<void>();
    await raceTimeout(Promise.race([this.#workSettled.promise, this.#hurry.promise]), budgetMs);
    return [...this.#work.values()];
  }

  #drainOverControl(params: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const exit = params.exit ?? "restart";
    if (exit !== "restart" && exit !== "stop") {
      throw new Error(`Cannot drain with exit "${String(exit)}": expected "restart" or "stop"`);
    }
    const request = exit === "restart" ? STOP_REQUESTS.restart : {
      ...STOP_REQUESTS.stopped,
      detail: "planned stop (drain over the control socket)",
    };
    const first = this.requestStop(request);
    return { accepted: first, state: "draining", exit_code: this.#stopRequest?.exitCode };
  }
}
