/**
 * Credential leases in the shared PostgreSQL database: which gateway of a
 * pool may connect a bot credential (every platform allows one live
 * consumer per credential). A lease has an owner, an epoch and an expiry;
 * it is claimed when free or expired, renewed by its owner, released on a
 * planned stop. The epoch grows by one with every claim and never goes back
 * (a released row stays), so a write fenced by `(owner, epoch)`
 * ({@linkcode PgLeases.fenceFor}) is refused once anybody, the same owner
 * included, has claimed the credential again.
 *
 * Every expiry is decided by the database's clock (`now()`), never a
 * host's, so gateways whose clocks disagree still agree on who holds what.
 * One exception shortens the wait, never the fence: a lease records its
 * holder's process, and a gateway of the same machine that finds that
 * process ended (a kill -9, then a restart by the service manager) takes
 * the lease at once instead of waiting for its expiry.
 *
 * @module
 */

import { HermesError } from "../../errors.ts";
import { openPostgres, type PgOpenOptions, type Sql, type Tx } from "./database.ts";
import type { PgPool } from "./pool.ts";
import { PG_MIGRATIONS } from "./migrations.ts";
import { isConnectionLoss, StoreConnectionError, unitOfWork } from "./unit_of_work.ts";
import { processEnded, type RecordedProcess, recordProcess } from "../../process/process_table.ts";

/** Who holds a lease another gateway asked for. */
export interface LeaseHolder {
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  readonly epoch: number;
  readonly expiresAt: Date;
}

/** What {@linkcode PgLeases.claim} got: the lease, or who holds it. */
export type LeaseClaim =
  | { readonly epoch: number; readonly expiresAt: Date; readonly heldBy?: undefined }
  | { readonly heldBy: LeaseHolder; readonly epoch?: undefined; readonly expiresAt?: undefined };

/** What {@linkcode PgLeases.renew} found: extended, or no longer ours. */
export type LeaseRenewal =
  | { readonly lost: false; readonly expiresAt: Date }
  | { readonly lost: true };

/** Options of {@linkcode PgLeases}. */
export interface PgLeasesOptions {
  /** This host's name, recorded for `gateway status` (default `Deno.hostname()`). */
  readonly host?: string;
  /** This process's PID, recorded likewise (default `Deno.pid`). */
  readonly pid?: number;
  /**
   * This process as a gateway of the same machine finds it again (default:
   * this process, when `pid` is not given); undefined: never taken early.
   */
  readonly process?: RecordedProcess;
}

/**
 * A write was refused because the lease it was fenced by is no longer its
 * owner's with that epoch: another gateway claimed the credential (or it
 * expired), so this one must stop answering for that bot.
 *
 * @example
 * ```ts
 * import type { PgStateStore } from "./state_store.ts";
 * import type { MessageEvent } from "../../platforms/event.ts";
 * declare const store: PgStateStore;
 * declare const event: MessageEvent;
 * try {
 *   await store.acceptInbound(event, "agent:main:wecom:dm:ada");
 * } catch (error) {
 *   if (error instanceof LeaseLostError) console.warn(error.message);
 * }
 * ```
 */
export class LeaseLostError extends HermesError {
  constructor(message: string, options?: ErrorOptions) {
    super("lease_lost", message, options);
    this.name = "LeaseLostError";
  }
}

/**
 * The SHA-256 (hex) a credential is leased under: its scope and secret,
 * so neither the secret nor anything that reveals it is stored.
 *
 * @example
 * ```ts
 * const hash = await credentialHash("wecom-bot", "aib-7Qx2");
 * hash.length; // 64
 * ```
 */
export async function credentialHash(scope: string, secret: string): Promise<string> {
  const bytes = new TextEncoder().encode(`${scope}\0${secret}`);
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Opens (migrating when needed) the leases of the database at `url`, on a
 * pool of their own (default 2 connections), so a renewal never waits
 * behind the store's work.
 *
 * @example
 * ```ts
 * const leases = await openPgLeases("postgres://hermes@db.internal:5432/hermes");
 * await leases.close();
 * ```
 */
export async function openPgLeases(
  url: string,
  options: PgLeasesOptions & Pick<PgOpenOptions, "max" | "connectTimeout"> = {},
): Promise<PgLeases> {
  const pool = await openPostgres(url, PG_MIGRATIONS, {
    max: options.max ?? 2,
    connectTimeout: options.connectTimeout,
  });
  try {
    return new PgLeases(pool, options);
  } catch (error) {
    await pool.end();
    throw error;
  }
}

/**
 * The credential leases of one database.
 *
 * @example
 * ```ts
 * const leases = await openPgLeases("postgres://hermes@db.internal:5432/hermes");
 * const hash = await credentialHash("wecom-bot", "aib-7Qx2");
 * const claim = await leases.claim(hash, "gw-a1b2", 45_000);
 * if (claim.heldBy) console.log(`standby: held by ${claim.heldBy.host}`);
 * else await leases.release(hash, "gw-a1b2", claim.epoch);
 * await leases.close();
 * ```
 */
export class PgLeases {
  readonly #pool: PgPool;
  readonly #host: string;
  readonly #pid: number;
  readonly #process: RecordedProcess | undefined;

  constructor(pool: PgPool, options: PgLeasesOptions = {}) {
    this.#pool = pool;
    this.#host = options.host ?? Deno.hostname();
    this.#pid = options.pid ?? Deno.pid;
    this.#process = "process" in options
      ? options.process
      : options.pid === undefined
      ? recordProcess()
      : undefined;
    if (this.#process && this.#process.pid !== this.#pid) {
      throw new RangeError(
        `Cannot record process ${this.#process.pid} for a lease held by PID ${this.#pid}: give the same PID to both`,
      );
    }
  }

  /**
   * Takes the lease of `hash` for `owner` for `ttlMs` when it is free,
   * expired or already `owner`'s (a re-claim, after its keeper gave it up),
   * with the next epoch, or when its holder's process is seen ended on
   * this machine; otherwise reports who holds it. One statement: of
   * gateways claiming together, exactly one wins.
   */
  async claim(hash: string, owner: string, ttlMs: number, platform?: string): Promise<LeaseClaim> {
    checkTtl(ttlMs);
    /** A holder whose process ended: its lease, at that epoch only, is taken. */
    let dead: { owner: string; epoch: number } | undefined;
    // A holder seen expired, released or dead between the claim and the look is claimed again.
    for (let attempt = 0;; attempt++) {
      const outcome = await unitOfWork(this.#pool, async (tx) => {
        const [won] = await tx`
          INSERT INTO credential_leases AS l
            (credential_hash, owner, host, pid, epoch, expires_at, claimed_at, renewed_at,
             platform, process_table, start_time, process_epoch)
          VALUES (${hash}, ${owner}, ${this.#host}, ${this.#pid}, 1,
            now() + ${ttlMs} * interval '1 millisecond', now(), now(), ${platform ?? null},
            ${this.#process?.table ?? null}, ${this.#process?.startTime ?? null}, 1)
          ON CONFLICT (credential_hash) DO UPDATE SET
            owner = excluded.owner, host = excluded.host, pid = excluded.pid,
            process_table = excluded.process_table, start_time = excluded.start_time,
            process_epoch = l.epoch + 1,
            epoch = l.epoch + 1, expires_at = excluded.expires_at,
            claimed_at = excluded.claimed_at, renewed_at = excluded.renewed_at,
            platform = coalesce(excluded.platform, l.platform), released_at = NULL,
            -- A change of hands: from whom, and whether it was handed over or taken after a death.
            taken_from = CASE WHEN l.owner <> excluded.owner THEN l.owner ELSE l.taken_from END,
            taken_at = CASE WHEN l.owner <> excluded.owner THEN now() ELSE l.taken_at END,
            taken_planned = CASE WHEN l.owner <> excluded.owner THEN l.released_at IS NOT NULL
              ELSE l.taken_planned END
          WHERE l.expires_at <= now() OR l.owner = excluded.owner
            OR (l.owner = ${dead?.owner ?? null} AND l.epoch = ${dead?.epoch ?? null})
          RETURNING epoch, expires_at`;
        if (won) return { epoch: Number(won.epoch), expiresAt: won.expires_at as Date };
        const [held] = await tx`
          SELECT owner, host, pid, epoch, expires_at, expires_at > now() AS live,
            process_table, start_time, process_epoch = epoch AS process_current
          FROM credential_leases WHERE credential_hash = ${hash}`;
        if (!held?.live) return undefined;
        // Only a process written by the claim that holds the lease names its holder.
        const ended = !dead && held.process_table !== null && held.process_current &&
          processEnded({
            table: String(held.process_table),
            pid: Number(held.pid),
            startTime: Number(held.start_time),
          });
        if (ended) {
          dead = { owner: String(held.owner), epoch: Number(held.epoch) };
          return undefined;
        }
        const heldBy: LeaseHolder = {
          owner: String(held.owner),
          host: String(held.host),
          pid: Number(held.pid),
          epoch: Number(held.epoch),
          expiresAt: held.expires_at as Date,
        };
        return { heldBy };
      });
      if (outcome) return outcome;
      if (attempt >= 2) throw new Error(`Cannot claim the lease ${hash}: it changed hands thrice`);
    }
  }

  /**
   * Extends `owner`'s lease of `hash` by `ttlMs` from now if it is still
   * `owner`'s with `epoch` and unexpired; otherwise reports it lost (never
   * claims it back). Tried once: rejects with a StoreConnectionError when
   * the database cannot be reached, which a keeper also takes for lost.
   */
  async renew(hash: string, owner: string, epoch: number, ttlMs: number): Promise<LeaseRenewal> {
    checkTtl(ttlMs);
    const rows = await this.#once("renew", hash, (sql) =>
      sql`
      UPDATE credential_leases
      SET expires_at = now() + ${ttlMs} * interval '1 millisecond', renewed_at = now()
      WHERE credential_hash = ${hash} AND owner = ${owner} AND epoch = ${epoch}
        AND expires_at > now()
      RETURNING expires_at`);
    const [row] = rows;
    return row ? { lost: false, expiresAt: row.expires_at as Date } : { lost: true };
  }

  /**
   * Gives up `owner`'s lease of `hash` at `epoch` (a planned stop or
   * handoff), so another gateway can claim it at once. Resolves with
   * whether it was still held; a lease already lost is left alone.
   */
  async release(hash: string, owner: string, epoch: number): Promise<boolean> {
    const rows = await unitOfWork(this.#pool, (tx) =>
      tx`
      UPDATE credential_leases SET expires_at = now(), released_at = now()
      WHERE credential_hash = ${hash} AND owner = ${owner} AND epoch = ${epoch}
        AND expires_at > now()
      RETURNING epoch`);
    return rows.length > 0;
  }

  /** The lease of `hash` as stored (live or not), or undefined when never claimed. */
  async holder(hash: string): Promise<(LeaseHolder & { live: boolean }) | undefined> {
    const [row] = await this.#once("read", hash, (sql) =>
      sql`
      SELECT owner, host, pid, epoch, expires_at, expires_at > now() AS live
      FROM credential_leases WHERE credential_hash = ${hash}`);
    if (!row) return undefined;
    return {
      owner: String(row.owner),
      host: String(row.host),
      pid: Number(row.pid),
      epoch: Number(row.epoch),
      expiresAt: row.expires_at as Date,
      live: Boolean(row.live),
    };
  }

  /**
   * The fence of a store whose writes are made for `owner`'s lease of
   * `hash` at `epoch` (`PgStoreOptions.fence`): in the write's transaction
   * it locks the lease row (FOR SHARE, so a takeover waits for the write
   * and the write for a takeover under way) and throws a
   * {@linkcode LeaseLostError} unless the lease is still `owner`'s with
   * `epoch` and unexpired by the database's clock.
   *
   * @example
   * ```ts
   * import { openPostgresStateStore } from "./state_store.ts";
   * declare const leases: PgLeases;
   * const store = await openPostgresStateStore("postgres://hermes@db.internal:5432/hermes", {
   *   fence: leases.fenceFor("9f2c41d0", "gw-a1b2", 7),
   * });
   * await store.close();
   * ```
   */
  fenceFor(
    hash: string,
    owner: string,
    epoch: number,
  ): (tx: Tx, platform?: string) => Promise<void> {
    return async (tx) => {
      const [row] = await tx`
        SELECT owner, epoch, host, expires_at > clock_timestamp() AS live
        FROM credential_leases WHERE credential_hash = ${hash} FOR SHARE`;
      if (row && row.owner === owner && Number(row.epoch) === epoch && row.live) return;
      const now = !row
        ? "nobody holds it"
        : row.owner === owner && Number(row.epoch) === epoch
        ? "it expired"
        : `it is now ${row.owner}'s on ${row.host} (epoch ${row.epoch})`;
      throw new LeaseLostError(
        `Cannot write for the bot credential ${
          hash.slice(0, 16)
        }: its lease at epoch ${epoch} is no longer ours (${now}); disconnect the bot and claim the lease again`,
      );
    };
  }

  /** Closes the pool. */
  close(): Promise<void> {
    return this.#pool.end();
  }

  /** One statement, one try: a lost connection becomes a StoreConnectionError. */
  async #once<T>(
    what: string,
    hash: string,
    work: (sql: Sql) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.#pool.use(work);
    } catch (error) {
      if (!isConnectionLoss(error)) throw error;
      throw new StoreConnectionError(
        `Cannot ${what} the lease of ${hash.slice(0, 16)}: the database connection was lost (${
          error instanceof Error ? error.message : String(error)
        }); check that PostgreSQL runs and that storage.url (HERMES_DATABASE_URL) names it`,
        { cause: error },
      );
    }
  }
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`Cannot use the lease TTL ${ttlMs} ms: give a positive whole number`);
  }
}
