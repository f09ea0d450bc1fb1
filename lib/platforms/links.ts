/**
 * Connects the enabled platforms: each with a connect timeout; one that fails
 * is retried in the background with exponential backoff and jitter while the
 * others serve. A first attempt that fails with a ConfigError is not retried:
 * nothing changes until an operator does, so the start fails instead. One
 * whose bot another gateway of the pool holds (a StandbyError) is `standby`
 * and tried again when its holder's lease may have ended.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import { backoffDelay, type BackoffOptions } from "../util/backoff.ts";
import { raceTimeout, TIMED_OUT } from "../util/race_timeout.ts";
import type { PlatformAdapter } from "./adapter.ts";
import type { LinkHealth } from "./health.ts";
import { StandbyError, type StandbyHolder } from "./standby.ts";

/** States in which a link cannot deliver, whatever else it reports. */
const DOWN_STATES: ReadonlySet<string> = new Set([
  "retrying",
  "superseded",
  "standby",
  "fatal",
  "stopped",
]);

/** What {@linkcode PlatformLinks} needs. */
export interface PlatformLinksOptions {
  readonly log: Logger;
  /** How long one connect attempt may take. */
  readonly connectTimeoutMs: number;
  readonly backoff?: BackoffOptions;
  /** Called after each connect attempt that failed (not a standby): let go of what it holds. */
  readonly onConnectFailed?: (platform: string) => void;
  /** Called after each successful connect (the first and every retry). */
  readonly onConnected?: (platform: string) => void;
  /** The clock for stop times (default: the system clock). */
  readonly now?: () => Date;
}

/** One platform in {@linkcode PlatformLinks.snapshot}: its link health and whether it is connected. */
export type LinkSnapshot = LinkHealth & { readonly connected: boolean };

/**
 * The gateway's platform links.
 *
 * @example
 * ```ts
 * import type { Logger } from "../util/log.ts";
 * import type { PlatformAdapter } from "./adapter.ts";
 * declare const localAdapter: PlatformAdapter, log: Logger;
 * const links = new PlatformLinks([localAdapter], { log, connectTimeoutMs: 30_000 });
 * await links.connectAll();
 * const to = { platform: "local", chatType: "dm", chatId: "alice" } as const;
 * await links.get("local")?.send(to, { text: "hi", final: true }, {
 *   idempotencyKey: "inbound:7#0",
 *   attempt: 1,
 * });
 * await links.disconnectAll("stopping");
 * ```
 */
export class PlatformLinks {
  readonly #adapters = new Map<string, PlatformAdapter>();
  readonly #connected = new Set<string>();
  readonly #retryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Platforms whose first connect failed with a configuration error. */
  readonly #fatal = new Map<string, { error: ConfigError; at: string }>();
  /** Platforms whose connect failed and is retried, with the failure. */
  readonly #retrying = new Map<string, { message: string; at: string }>();
  /** Platforms waiting for another gateway's lease, with why and since when. */
  readonly #standby = new Map<string, { message: string; holder?: StandbyHolder; since: string }>();
  readonly #options: PlatformLinksOptions;
  #closing = false;
  /** When disconnectAll finished (ISO), once it has. */
  #stoppedAt: string | undefined;

  constructor(adapters: readonly PlatformAdapter[], options: PlatformLinksOptions) {
    for (const adapter of adapters) this.#adapters.set(adapter.name, adapter);
    this.#options = options;
  }

  /**
   * Connects every platform once; failures are retried in the background.
   * Rejects with the ConfigError of a platform whose first attempt failed
   * with one (after every first attempt has settled), without retrying it.
   */
  async connectAll(): Promise<void> {
    const outcomes = await Promise.all(
      [...this.#adapters.values()].map((adapter) => this.#attempt(adapter, 0)),
    );
    const fatal = outcomes.find((outcome) => outcome !== undefined);
    if (fatal) throw fatal;
  }

  /** The adapter of `platform`, connected or not. */
  get(platform: string): PlatformAdapter | undefined {
    return this.#adapters.get(platform);
  }

  /**
   * Whether `platform` is connected now: its connect succeeded and its link
   * has not gone down since (an adapter that reconnects by itself reports
   * `retrying`, `superseded`, ... meanwhile; parts wait for it instead of
   * failing against a dead link).
   */
  isConnected(platform: string): boolean {
    if (!this.#connected.has(platform)) return false;
    const health = this.#adapters.get(platform)?.health();
    return health !== undefined && health.down_since === null &&
      !DOWN_STATES.has(health.state);
  }

  /**
   * Health of every platform, for status output. After disconnectAll every
   * platform reads `stopped` (with `stopped_at`) and none is connected,
   * whatever its adapter last reported; one that failed with a configuration
   * error reads `fatal` with that error.
   */
  snapshot(): Record<string, LinkSnapshot> {
    const out: Record<string, LinkSnapshot> = {};
    for (const [name, adapter] of this.#adapters) {
      const health = adapter.health();
      const fatal = this.#fatal.get(name);
      if (fatal) {
        out[name] = {
          ...health,
          state: "fatal",
          last_error: { code: fatal.error.code, message: fatal.error.message, at: fatal.at },
          stopped_at: null, // it never ran
          connected: false,
        };
      } else if (this.#standby.has(name) && this.#stoppedAt === undefined) {
        const standby = this.#standby.get(name)!;
        out[name] = {
          ...health,
          state: "standby",
          details: {
            ...health.details,
            standby: standby.message,
            standby_since: standby.since,
            ...(standby.holder ? { lease_holder: standby.holder } : {}),
          },
          stopped_at: null,
          connected: false,
        };
      } else if (this.#retrying.has(name) && this.#stoppedAt === undefined) {
        // Not connected yet, whatever the adapter left behind when its attempt failed.
        const failure = this.#retrying.get(name)!;
        const own = health.last_error;
        out[name] = {
          ...health,
          state: "retrying",
          last_error: own && own.at >= failure.at
            ? own
            : { code: "connect_failed", message: failure.message, at: failure.at },
          stopped_at: null,
          connected: false,
        };
      } else if (this.#stoppedAt !== undefined) {
        out[name] = {
          ...health,
          state: "stopped",
          stopped_at: health.state === "stopped" && health.stopped_at
            ? health.stopped_at
            : this.#stoppedAt,
          connected: false,
        };
      } else {
        out[name] = { ...health, connected: this.isConnected(name) };
      }
    }
    return out;
  }

  /**
   * Disconnects `platform` now (its bot's lease was lost: another gateway
   * may already serve it) and connects it again in the background, which
   * claims the lease anew or leaves the link in `standby`; `beforeReconnect`
   * (letting go of the platform's work) is awaited between the two.
   */
  async restart(
    platform: string,
    reason: string,
    beforeReconnect?: () => Promise<void>,
  ): Promise<void> {
    const adapter = this.#adapters.get(platform);
    if (!adapter || this.#closing) return;
    this.#connected.delete(platform);
    clearTimeout(this.#retryTimers.get(platform));
    this.#retryTimers.delete(platform);
    this.#options.log.warn("platform disconnected; connecting again", { platform, reason });
    try {
      await adapter.disconnect(reason);
    } catch (error) {
      this.#options.log.warn("disconnect failed", { platform, error });
    }
    await beforeReconnect?.().catch((error) =>
      this.#options.log.warn("letting go of the platform's work failed", { platform, error })
    );
    if (this.#closing) return;
    this.#retry(adapter, 0, backoffDelay(0, this.#options.backoff));
  }

  /** Stops retries and disconnects every platform. */
  async disconnectAll(reason: string): Promise<void> {
    this.#closing = true;
    for (const timer of this.#retryTimers.values()) clearTimeout(timer);
    this.#retryTimers.clear();
    await Promise.all([...this.#adapters.values()].map(async (adapter) => {
      try {
        await adapter.disconnect(reason);
      } catch (error) {
        this.#options.log.warn("disconnect failed", { platform: adapter.name, error });
      }
      this.#connected.delete(adapter.name);
    }));
    this.#stoppedAt = this.#now().toISOString();
  }

  #now(): Date {
    return this.#options.now?.() ?? new Date();
  }

  /** One connect attempt; answers the ConfigError that ends a first attempt, if one does. */
  async #attempt(adapter: PlatformAdapter, attempt: number): Promise<ConfigError | undefined> {
    const { log, connectTimeoutMs } = this.#options;
    let failure: unknown;
    try {
      const connecting = adapter.connect();
      connecting.catch(() => {}); // a late failure after the timeout is not unhandled
      const outcome = await raceTimeout(connecting, connectTimeoutMs);
      if (outcome !== TIMED_OUT && this.#closing) {
        // Stopped while it was connecting: it serves no one, so it is not connected.
        await adapter.disconnect("gateway stopping").catch(() => {});
        return;
      }
      if (outcome !== TIMED_OUT) {
        this.#retrying.delete(adapter.name);
        this.#standby.delete(adapter.name);
        this.#connected.add(adapter.name);
        log.info("platform connected", { platform: adapter.name, attempt: attempt + 1 });
        this.#options.onConnected?.(adapter.name);
        return;
      }
      failure = new Error(`no connection within ${connectTimeoutMs / 1000} s`);
    } catch (error) {
      failure = error;
    }
    await adapter.disconnect("connect failed").catch(() => {});
    if (failure instanceof StandbyError) {
      if (this.#closing) return;
      const waiting = this.#standby.get(adapter.name);
      if (waiting?.message !== failure.message) {
        log.info("platform on standby: another gateway holds its bot", {
          platform: adapter.name,
          reason: failure.message,
        });
      }
      this.#retrying.delete(adapter.name);
      this.#standby.set(adapter.name, {
        message: failure.message,
        holder: failure.holder,
        since: waiting?.since ?? this.#now().toISOString(),
      });
      this.#retry(adapter, 0, failure.retryInMs);
      return;
    }
    this.#options.onConnectFailed?.(adapter.name);
    if (attempt === 0 && failure instanceof ConfigError) {
      // Retrying cannot help: the start fails with this error instead.
      this.#fatal.set(adapter.name, { error: failure, at: this.#now().toISOString() });
      log.debug("platform cannot connect: configuration error; not retrying", {
        platform: adapter.name,
        error: failure,
      });
      return failure;
    }
    if (this.#closing) return;
    this.#retrying.set(adapter.name, {
      message: failure instanceof Error ? failure.message : String(failure),
      at: this.#now().toISOString(),
    });
    const delay = backoffDelay(attempt, this.#options.backoff);
    log.warn("platform failed to connect; retrying in the background", {
      platform: adapter.name,
      attempt: attempt + 1,
      retry_in_ms: delay,
      error: failure,
    });
    this.#retry(adapter, attempt + 1, delay);
  }

  /** Attempt number `attempt` of `adapter` in `delayMs`. */
  #retry(adapter: PlatformAdapter, attempt: number, delayMs: number): void {
    this.#retryTimers.set(
      adapter.name,
      setTimeout(() => {
        this.#retryTimers.delete(adapter.name);
        void this.#attempt(adapter, attempt);
      }, delayMs),
    );
  }
}
