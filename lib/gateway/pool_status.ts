/**
 * `hermes gateway status --all`: every gateway of the pool (those seen in
 * the last hour), the bots each serves with their lease ages, and the last
 * time a bot changed hands, read from the shared database.
 *
 * @module
 */

import { checkPostgresUrl } from "../storage/database_url.ts";
import type { StorageSettings } from "../storage/open_state_store.ts";
import type { PoolReport } from "../storage/postgres/pool_members.ts";
import { UsageError } from "../errors.ts";

/** Members not seen for longer than this are left out. */
const SEEN_WITHIN_S = 3_600;

/**
 * Reads the pool's report. Throws a UsageError when the storage is not a
 * pool's database.
 *
 * @example
 * ```ts
 * import type { Config } from "../config/schema.ts";
 * declare const config: Config;
 * const report = await gatherPoolStatus(config.storage, config.gateway.lease_ttl_seconds);
 * console.log(describePool(report));
 * ```
 */
export async function gatherPoolStatus(
  storage: StorageSettings,
  leaseTtlS: number,
): Promise<PoolReport & { lease_ttl_s: number }> {
  if (storage.backend !== "postgres") {
    throw new UsageError(
      "--all lists the gateways of a pool, which share a PostgreSQL database; this home keeps its state in SQLite",
      "hermes gateway status (or set storage.backend: postgres and storage.url)",
    );
  }
  const url = checkPostgresUrl(storage.url);
  const [{ openPostgres }, { PG_MIGRATIONS }, { poolReport }] = await Promise.all([
    import("../storage/postgres/database.ts"),
    import("../storage/postgres/migrations.ts"),
    import("../storage/postgres/pool_members.ts"),
  ]);
  const pool = await openPostgres(url, PG_MIGRATIONS, { max: 1, readOnly: true });
  try {
    return {
      ...await pool.use((sql) => poolReport(sql, SEEN_WITHIN_S)),
      lease_ttl_s: leaseTtlS,
    };
  } finally {
    await pool.end();
  }
}

/**
 * The report for people: a gateway per line, its bots under it.
 *
 * @example
 * ```ts
 * describePool({ members: [], last_takeover: null, lease_ttl_s: 45 });
 * // "Pool: no gateway seen in the last hour\n"
 * ```
 */
export function describePool(report: PoolReport & { lease_ttl_s: number }): string {
  const running = report.members.filter((m) =>
    m.stopped_at === null && m.seen_s_ago <= report.lease_ttl_s
  );
  if (report.members.length === 0) return "Pool: no gateway seen in the last hour\n";
  const lines = [
    `Pool: ${running.length} gateway(s) running, ${report.members.length} seen in the last hour`,
  ];
  for (const m of report.members) {
    const state = m.stopped_at
      ? `stopped at ${m.stopped_at}`
      : m.seen_s_ago > report.lease_ttl_s
      ? `not seen for ${m.seen_s_ago} s (dead?)`
      : `running, seen ${m.seen_s_ago} s ago`;
    lines.push(`  ${m.owner} on ${m.host} (PID ${m.pid}, ${m.home}): ${state}`);
    if (m.bots.length === 0 && !m.stopped_at) lines.push("    bots: none (standby)");
    for (const bot of m.bots) {
      lines.push(
        `    ${
          bot.platform ?? "?"
        }: lease epoch ${bot.epoch}, held ${bot.held_s} s, expires in ${bot.expires_in_s} s`,
      );
    }
  }
  const t = report.last_takeover;
  if (t) {
    lines.push(
      `  last takeover: ${t.platform ?? "?"} by ${t.owner} from ${t.from} at ${t.at} (${
        t.planned ? "handed over" : "taken after its lease ran out"
      })`,
    );
  }
  return `${lines.join("\n")}\n`;
}
