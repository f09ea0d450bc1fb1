/**
 * Keeping a credential lease while its bot is connected: renewed every
 * TTL/3, and given up (`onLost`, where the adapter disconnects) the moment
 * a renewal fails, finds the lease gone, or has not answered by the time
 * the next one is due (a partitioned host's query may hang rather than
 * fail). It never tries again into a lease it lost: the gateway claims the
 * credential anew, with a new epoch, or stays on standby.
 *
 * Given up at the latest 2/3 TTL after the last renewal that succeeded was
 * sent, by this host's clock, while the database counts the TTL from when
 * it ran that renewal, so the adapter has a third of the TTL (15 s at the
 * default 45 s) to disconnect before another gateway can take over.
 *
 * @module
 */

import type { LeaseRenewal } from "./leases.ts";

/** The default lease TTL (`gateway.lease_ttl_seconds`). */
export const DEFAULT_LEASE_TTL_MS = 45_000;

/** The timers a keeper runs on (the global ones by default; a fake clock in tests). */
export interface KeeperClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Options of {@linkcode LeaseKeeper}. */
export interface LeaseKeeperOptions {
  /** What renews and releases (a `PgLeases`). */
  readonly leases: {
    renew(hash: string, owner: string, epoch: number, ttlMs: number): Promise<LeaseRenewal>;
    release(hash: string, owner: string, epoch: number): Promise<boolean>;
  };
  readonly hash: string;
  readonly owner: string;
  /** The epoch the claim returned. */
  readonly epoch: number;
  /** The TTL the lease was claimed with (default 45 s). */
  readonly ttlMs?: number;
  /** When the claim was sent, by `clock.now()` (default: when the keeper starts). */
  readonly claimSentAt?: number;
  /** Called once, when the lease is given up: disconnect the bot. */
  readonly onLost: (reason: string) => void;
  /** Called after each renewal that succeeded, with the new expiry (for status). */
  readonly onRenewed?: (expiresAt: Date) => void;
  readonly clock?: KeeperClock;
}

const GLOBAL_CLOCK: KeeperClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

/**
 * Renews one lease until it is lost, stopped or released.
 *
 * @example
 * ```ts
 * import { credentialHash, openPgLeases } from "./leases.ts";
 * const leases = await openPgLeases("postgres://hermes@db.internal:5432/hermes");
 * const hash = await credentialHash("wecom-bot", "aib-7Qx2");
 * const claim = await leases.claim(hash, "gw-a1b2", DEFAULT_LEASE_TTL_MS);
 * if (claim.epoch !== undefined) {
 *   const keeper = new LeaseKeeper({
 *     leases,
 *     hash,
 *     owner: "gw-a1b2",
 *     epoch: claim.epoch,
 *     onLost: (reason) => console.warn(`lease lost: ${reason}; disconnecting`),
 *   });
 *   await keeper.release(); // a planned stop
 * }
 * ```
 */
export class LeaseKeeper {
  readonly #options: LeaseKeeperOptions;
  readonly #ttl: number;
  readonly #clock: KeeperClock;
  #renewTimer: unknown;
  #deadlineTimer: unknown;
  #done = false;
  #lost: string | undefined;
  /** Renewals sent that have not answered (at most one). */
  #inFlight: Promise<void> | undefined;

  constructor(options: LeaseKeeperOptions) {
    this.#options = options;
    this.#ttl = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    if (!Number.isInteger(this.#ttl) || this.#ttl < 3) {
      throw new RangeError(`Cannot keep a lease with TTL ${this.#ttl} ms: give at least 3 ms`);
    }
    this.#clock = options.clock ?? GLOBAL_CLOCK;
    this.#scheduleFrom(options.claimSentAt ?? this.#clock.now());
  }

  /** Why the lease was given up, or undefined while it is kept (or was stopped). */
  get lost(): string | undefined {
    return this.#lost;
  }

  /** Stops renewing, keeping the lease to its expiry (a crash-like stop; prefer release). */
  stop(): void {
    this.#done = true;
    this.#clearTimers();
  }

  /** Stops renewing and releases the lease, so another gateway can claim it at once. */
  async release(): Promise<boolean> {
    const wasLost = this.#lost !== undefined;
    this.stop();
    // A renewal under way would otherwise land after the release and extend nothing, harmlessly;
    // waited for anyway, so the release is the last word.
    await this.#inFlight;
    if (wasLost) return false;
    const { hash, owner, epoch } = this.#options;
    return await this.#options.leases.release(hash, owner, epoch);
  }

  /** Renewal due TTL/3 after `sentAt`; given up 2/3 TTL after it unless a later one succeeds. */
  #scheduleFrom(sentAt: number): void {
    this.#clearTimers();
    const now = this.#clock.now();
    const period = this.#ttl / 3;
    this.#renewTimer = this.#clock.setTimeout(
      () => this.#renew(),
      Math.max(0, sentAt + period - now),
    );
    this.#deadlineTimer = this.#clock.setTimeout(
      () => this.#lose(`no renewal answered within ${Math.round(2 * period)} ms`),
      Math.max(0, sentAt + 2 * period - now),
    );
  }

  #renew(): void {
    if (this.#done) return;
    const { hash, owner, epoch } = this.#options;
    const sentAt = this.#clock.now();
    this.#inFlight = this.#options.leases.renew(hash, owner, epoch, this.#ttl).then(
      (renewal) => {
        if (this.#done) return;
        if (renewal.lost) {
          this.#lose("the lease expired or another gateway claimed it");
          return;
        }
        this.#scheduleFrom(sentAt);
        this.#options.onRenewed?.(renewal.expiresAt);
      },
      (error) => {
        this.#lose(`the renewal failed: ${error instanceof Error ? error.message : error}`);
      },
    ).finally(() => this.#inFlight = undefined);
  }

  #lose(reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#lost = reason;
    this.#clearTimers();
    this.#options.onLost(reason);
  }

  #clearTimers(): void {
    if (this.#renewTimer !== undefined) this.#clock.clearTimeout(this.#renewTimer);
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    this.#renewTimer = this.#deadlineTimer = undefined;
  }
}
