/**
 * The bot leases of a gateway in a pool (`storage.backend: postgres`; it
 * loads the PostgreSQL driver, so import it only there):
 * before a platform consumes a bot credential, its lease is claimed in the
 * shared database; while it is held a keeper renews it, and every write the
 * store makes for that platform is fenced by its epoch. A bot another
 * gateway holds, or one more than `gateway.max_bots`, leaves the link on
 * standby (a StandbyError) until the lease is free. A lease lost (a renewal
 * failed, the database was out of reach, another gateway claimed it) is
 * reported at once so the platform disconnects; a planned stop releases
 * every lease so the pool takes the bots over without waiting for the TTL.
 *
 * @module
 */

import type { Tx } from "../storage/postgres/database.ts";
import { openPostgres } from "../storage/postgres/database.ts";
import { credentialHash, LeaseLostError, PgLeases } from "../storage/postgres/leases.ts";
import { PG_MIGRATIONS } from "../storage/postgres/migrations.ts";
import { recordMember, recordStop } from "../storage/postgres/pool_members.ts";
import { LeaseKeeper } from "../storage/postgres/lease_keeper.ts";
import { StandbyError } from "../platforms/standby.ts";
import type { Logger } from "../util/log.ts";

/** How often a standby link asks whether the lease it waits for is free. */
export const STANDBY_POLL_MS = 2_000;

/** Options of {@linkcode BotLeases}. */
export interface BotLeasesOptions {
  readonly leases: PgLeases;
  /** This gateway's name in the pool (unique per run). */
  readonly owner: string;
  readonly ttlMs: number;
  /** Most bots held at once (undefined: no limit). */
  readonly maxBots?: number;
  readonly log: Logger;
  /** A lease was lost: disconnect `platform` (it connects again, or waits on standby). */
  readonly onLost: (platform: string, reason: string) => void;
  /** The standby poll (default {@linkcode STANDBY_POLL_MS}). */
  readonly standbyPollMs?: number;
}

/** One lease held for a platform. */
interface HeldLease {
  readonly hash: string;
  readonly epoch: number;
  readonly keeper: LeaseKeeper;
  expiresAt: Date;
}

/**
 * The leases one gateway holds, by platform.
 *
 * @example
 * ```ts
 * import type { PgLeases } from "../storage/postgres/leases.ts";
 * import type { Logger } from "../util/log.ts";
 * declare const leases: PgLeases, log: Logger;
 * const bots = new BotLeases({
 *   leases,
 *   owner: "gw-3f9a",
 *   ttlMs: 45_000,
 *   log,
 *   onLost: (platform, reason) => log.warn("lease lost", { platform, reason }),
 * });
 * await bots.claim("wecom", "wecom-bot", "aib-7Qx2"); // or throws a StandbyError
 * await bots.releaseAll();
 * ```
 */
export class BotLeases {
  readonly #options: BotLeasesOptions;
  readonly #held = new Map<string, HeldLease>();
  /** Platforms that claimed a lease in this run: their writes are fenced from then on. */
  readonly #leased = new Set<string>();
  /** Platforms whose claim is under way. */
  readonly #claiming = new Set<string>();
  #closing = false;

  constructor(options: BotLeasesOptions) {
    this.#options = options;
  }

  /** This gateway's name in the pool. */
  get owner(): string {
    return this.#options.owner;
  }

  /**
   * Claims the lease of `platform`'s credential (`scope`, `identity`; only
   * their hash is stored), or keeps the one it holds already. Throws a
   * StandbyError when another gateway holds it or this one is full.
   */
  async claim(platform: string, scope: string, identity: string): Promise<void> {
    const { leases, owner, ttlMs, maxBots, log } = this.#options;
    const poll = this.#options.standbyPollMs ?? STANDBY_POLL_MS;
    if (this.#closing) throw new Error("Cannot claim a bot lease: the gateway is stopping");
    const hash = await credentialHash(scope, identity);
    const held = this.#held.get(platform);
    if (held?.hash === hash && held.keeper.lost === undefined) return;
    if (held) await this.#drop(platform, held);
    if (maxBots !== undefined && this.#held.size + this.#claiming.size >= maxBots) {
      throw new StandbyError(
        `this gateway serves gateway.max_bots (${maxBots}) bots already; another gateway of the pool with room takes it`,
        { retryInMs: poll },
      );
    }
    this.#leased.add(platform);
    const sentAt = performance.now();
    this.#claiming.add(platform); // counted against max_bots while the claim is under way
    const claim = await leases.claim(hash, owner, ttlMs, platform)
      .finally(() => this.#claiming.delete(platform));
    if (claim.heldBy) {
      const { heldBy } = claim;
      throw new StandbyError(`held by ${heldBy.owner} on ${heldBy.host} (PID ${heldBy.pid})`, {
        holder: {
          owner: heldBy.owner,
          host: heldBy.host,
          pid: heldBy.pid,
          lease_expires_at: heldBy.expiresAt.toISOString(),
        },
        retryInMs: poll,
      });
    }
    const lease: HeldLease = {
      hash,
      epoch: claim.epoch,
      expiresAt: claim.expiresAt,
      keeper: new LeaseKeeper({
        leases,
        hash,
        owner,
        epoch: claim.epoch,
        ttlMs,
        claimSentAt: sentAt,
        onRenewed: (expiresAt) => lease.expiresAt = expiresAt,
        onLost: (reason) => {
          if (this.#held.get(platform) === lease) this.#held.delete(platform);
          log.warn("bot lease lost; disconnecting the platform", { platform, reason });
          this.#options.onLost(platform, reason);
        },
      }),
    };
    if (this.#closing) {
      await lease.keeper.release();
      throw new Error("Cannot claim a bot lease: the gateway is stopping");
    }
    this.#held.set(platform, lease);
    log.info("bot lease claimed", { platform, epoch: claim.epoch });
  }

  /**
   * The store's fence (`PgStoreOptions.fence`): a write for a platform that
   * claimed a lease in this run goes through only while that lease is still
   * ours with its epoch, by the database's own check.
   */
  readonly fence = async (tx: Tx, platform: string): Promise<void> => {
    if (!this.#leased.has(platform)) return; // never leased here (a plugin without a credential)
    const held = this.#held.get(platform);
    if (!held) {
      throw new LeaseLostError(
        `Cannot write for ${platform}: this gateway holds no lease of its bot (lost or never claimed); the gateway that holds it answers`,
      );
    }
    await this.#options.leases.fenceFor(held.hash, this.#options.owner, held.epoch)(tx);
  };

  /** Whether this gateway holds the lease of `platform` now. */
  holds(platform: string): boolean {
    return this.#held.has(platform);
  }

  /** What `gateway status` shows of `platform`'s lease: its epoch and expiry, when held. */
  details(platform: string): { lease_epoch: number; lease_expires_at: string } | undefined {
    const held = this.#held.get(platform);
    if (!held) return undefined;
    return { lease_epoch: held.epoch, lease_expires_at: held.expiresAt.toISOString() };
  }

  /** Releases the lease of `platform`, if held (its connect failed: let another gateway try). */
  async release(platform: string): Promise<void> {
    const held = this.#held.get(platform);
    if (held) await this.#drop(platform, held);
  }

  /** Releases every lease held (a planned stop or handoff): the pool takes the bots at once. */
  async releaseAll(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#held].map(([platform, held]) => this.#drop(platform, held)));
  }

  async #drop(platform: string, held: HeldLease): Promise<void> {
    this.#held.delete(platform);
    try {
      await held.keeper.release();
      this.#options.log.info("bot lease released", { platform, epoch: held.epoch });
    } catch (error) {
      // It runs out by itself at its expiry.
      this.#options.log.warn("cannot release a bot lease; it expires by itself", {
        platform,
        error,
      });
    }
  }
}

/**
 * Opens the leases of the pool database at `url` (a pool of 2 connections
 * of their own, so a renewal never waits behind the store's work) for a
 * gateway of this run, named `gw-` and 8 random hex digits, and records the
 * gateway among the pool's members (seen again every third of the TTL,
 * its stop recorded by `close`) for `hermes gateway status --all`.
 *
 * @example
 * ```ts
 * import type { Logger } from "../util/log.ts";
 * declare const log: Logger;
 * const bots = await openBotLeases("postgres://hermes@db.internal:5432/hermes", {
 *   ttlMs: 45_000,
 *   home: "/srv/hermes",
 *   log,
 *   onLost: () => {},
 * });
 * await bots.releaseAll();
 * await bots.close();
 * ```
 */
export async function openBotLeases(
  url: string,
  options: Omit<BotLeasesOptions, "leases" | "owner"> & { readonly home: string },
): Promise<BotLeases & { close(): Promise<void> }> {
  const pool = await openPostgres(url, PG_MIGRATIONS, { max: 2 });
  const leases = new PgLeases(pool);
  const member = {
    owner: `gw-${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`,
    host: Deno.hostname(),
    pid: Deno.pid,
    home: options.home,
  };
  const seen = () =>
    pool.use((sql) => recordMember(sql, member)).catch((error) =>
      options.log.debug("cannot record this gateway among the pool's members", { error })
    );
  await seen();
  const heartbeat = setInterval(seen, Math.max(1_000, options.ttlMs / 3));
  const bots = new BotLeases({ ...options, leases, owner: member.owner });
  return Object.assign(bots, {
    close: async () => {
      clearInterval(heartbeat);
      await pool.use((sql) => recordStop(sql, member.owner)).catch(() => {});
      await leases.close();
    },
  });
}
