/**
 * Connects the enabled platforms: each with a connect timeout; one that fails
 * is retried in the background with exponential backoff and jitter while the
 * others serve.
 *
 * @module
 */

import type { Logger } from "../util/log.ts";
import { backoffDelay, type BackoffOptions } from "../util/backoff.ts";
import { raceTimeout, TIMED_OUT } from "../util/race_timeout.ts";
import type { PlatformAdapter } from "./adapter.ts";
import type { LinkHealth } from "./health.ts";

/** What {@linkcode PlatformLinks} needs. */
export interface PlatformLinksOptions {
  readonly log: Logger;
  /** How long one connect attempt may take. */
  readonly connectTimeoutMs: number;
  readonly backoff?: BackoffOptions;
  /** Called after each successful connect (the first and every retry). */
  readonly onConnected?: (platform: string) => void;
}

/**
 * The gateway's platform links.
 *
 * @example
 * ```ts
 * const links = new PlatformLinks([localAdapter], { log, connectTimeoutMs: 30_000 });
 * await links.connectAll();
 * links.get("local")?.send(source, { text: "hi", final: true });
 * await links.disconnectAll("stopping");
 * ```
 */
export class PlatformLinks {
  readonly #adapters = new Map<string, PlatformAdapter>();
  readonly #connected = new Set<string>();
  readonly #retryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #options: PlatformLinksOptions;
  #closing = false;

  constructor(adapters: readonly PlatformAdapter[], options: PlatformLinksOptions) {
    for (const adapter of adapters) this.#adapters.set(adapter.name, adapter);
    this.#options = options;
  }

  /** Connects every platform once; failures are retried in the background. */
  async connectAll(): Promise<void> {
    await Promise.all([...this.#adapters.values()].map((adapter) => this.#attempt(adapter, 0)));
  }

  /** The adapter of `platform`, connected or not. */
  get(platform: string): PlatformAdapter | undefined {
    return this.#adapters.get(platform);
  }

  /** Whether `platform` is connected now. */
  isConnected(platform: string): boolean {
    return this.#connected.has(platform);
  }

  /** Health of every platform, for status output. */
  snapshot(): Record<string, LinkHealth & { connected: boolean }> {
    const out: Record<string, LinkHealth & { connected: boolean }> = {};
    for (const [name, adapter] of this.#adapters) {
      out[name] = { ...adapter.health(), connected: this.#connected.has(name) };
    }
    return out;
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
  }

  async #attempt(adapter: PlatformAdapter, attempt: number): Promise<void> {
    const { log, connectTimeoutMs } = this.#options;
    let failure: unknown;
    try {
      const connecting = adapter.connect();
      connecting.catch(() => {}); // a late failure after the timeout is not unhandled
      const outcome = await raceTimeout(connecting, connectTimeoutMs);
      if (outcome !== TIMED_OUT) {
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
    if (this.#closing) return;
    const delay = backoffDelay(attempt, this.#options.backoff);
    log.warn("platform failed to connect; retrying in the background", {
      platform: adapter.name,
      attempt: attempt + 1,
      retry_in_ms: delay,
      error: failure,
    });
    this.#retryTimers.set(
      adapter.name,
      setTimeout(() => {
        this.#retryTimers.delete(adapter.name);
        void this.#attempt(adapter, attempt + 1);
      }, delay),
    );
  }
}
