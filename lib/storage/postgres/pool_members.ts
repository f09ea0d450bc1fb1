/**
 * The gateways of a pool, as the shared database knows them: each running
 * gateway records itself (`pool_members`) when it starts, is seen again
 * every third of its lease TTL and records its stop; `hermes gateway status
 * --all` reads them with the bot leases each holds and the last time a bot
 * changed hands.
 *
 * @module
 */

import type { Queryable } from "./database.ts";

/** A gateway of the pool. */
export interface PoolMember {
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  readonly home: string;
  readonly started_at: string;
  readonly seen_at: string;
  /** Seconds since it was last seen, by the database's clock. */
  readonly seen_s_ago: number;
  /** When it stopped (a planned stop), or null while it runs or after a crash. */
  readonly stopped_at: string | null;
  /** Live leases it holds. */
  readonly bots: readonly PoolBot[];
}

/** A bot lease a member holds. */
export interface PoolBot {
  readonly platform: string | null;
  readonly epoch: number;
  /** Seconds since this member claimed it. */
  readonly held_s: number;
  /** Seconds until it expires unless renewed. */
  readonly expires_in_s: number;
}

/** The newest change of hands of a bot. */
export interface PoolTakeover {
  readonly platform: string | null;
  readonly owner: string;
  readonly from: string;
  readonly at: string;
  /** True when the old owner released it (a stop or `--replace`), false when it was taken after its lease ran out. */
  readonly planned: boolean;
}

/** What `status --all` shows. */
export interface PoolReport {
  readonly members: readonly PoolMember[];
  readonly last_takeover: PoolTakeover | null;
}

/**
 * Records `member` as running (again): a new start, or a heartbeat.
 *
 * @example
 * ```ts
 * import type { Sql } from "./database.ts";
 * declare const sql: Sql;
 * await recordMember(sql, { owner: "gw-3f9a", host: "host-a", pid: 4242, home: "/srv/hermes" });
 * ```
 */
export async function recordMember(
  sql: Queryable,
  member: { owner: string; host: string; pid: number; home: string },
): Promise<void> {
  await sql`
    INSERT INTO pool_members (owner, host, pid, home, started_at, seen_at)
    VALUES (${member.owner}, ${member.host}, ${member.pid}, ${member.home}, now(), now())
    ON CONFLICT (owner) DO UPDATE SET seen_at = now(), stopped_at = NULL`;
}

/**
 * Records that `owner` stopped as planned.
 *
 * @example
 * ```ts
 * import type { Sql } from "./database.ts";
 * declare const sql: Sql;
 * await recordStop(sql, "gw-3f9a");
 * ```
 */
export async function recordStop(sql: Queryable, owner: string): Promise<void> {
  await sql`UPDATE pool_members SET stopped_at = now(), seen_at = now() WHERE owner = ${owner}`;
}

/**
 * The members seen within `withinS` seconds (running, or stopped or dead
 * since), newest start first, with their live leases; and the last takeover.
 *
 * @example
 * ```ts
 * import type { Sql } from "./database.ts";
 * declare const sql: Sql;
 * const report = await poolReport(sql, 3600);
 * report.members.map((m) => `${m.owner} on ${m.host}: ${m.bots.length} bots`);
 * ```
 */
export async function poolReport(sql: Queryable, withinS: number): Promise<PoolReport> {
  const members = await sql`
    SELECT owner, host, pid, home, started_at, seen_at, stopped_at,
      extract(epoch FROM now() - seen_at)::float8 AS seen_s_ago
    FROM pool_members WHERE seen_at > now() - ${withinS} * interval '1 second'
    ORDER BY started_at DESC`;
  const leases = await sql`
    SELECT owner, platform, epoch,
      extract(epoch FROM now() - claimed_at)::float8 AS held_s,
      extract(epoch FROM expires_at - now())::float8 AS expires_in_s
    FROM credential_leases WHERE expires_at > now() ORDER BY platform`;
  const [taken] = await sql`
    SELECT platform, owner, taken_from, taken_at, taken_planned FROM credential_leases
    WHERE taken_at IS NOT NULL ORDER BY taken_at DESC LIMIT 1`;
  return {
    members: members.map((m) => ({
      owner: String(m.owner),
      host: String(m.host),
      pid: Number(m.pid),
      home: String(m.home),
      started_at: (m.started_at as Date).toISOString(),
      seen_at: (m.seen_at as Date).toISOString(),
      seen_s_ago: Math.max(0, Math.round(Number(m.seen_s_ago))),
      stopped_at: m.stopped_at ? (m.stopped_at as Date).toISOString() : null,
      bots: leases.filter((l) => l.owner === m.owner).map((l) => ({
        platform: l.platform === null ? null : String(l.platform),
        epoch: Number(l.epoch),
        held_s: Math.round(Number(l.held_s)),
        expires_in_s: Math.max(0, Math.round(Number(l.expires_in_s))),
      })),
    })),
    last_takeover: taken
      ? {
        platform: taken.platform === null ? null : String(taken.platform),
        owner: String(taken.owner),
        from: String(taken.taken_from),
        at: (taken.taken_at as Date).toISOString(),
        planned: Boolean(taken.taken_planned),
      }
      : null,
  };
}
