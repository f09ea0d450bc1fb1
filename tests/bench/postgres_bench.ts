/**
 * The PostgreSQL storage backend (`deno task bench`), on the throwaway
 * server of `tests/_postgres.ts` (fsync off, as for the tests, while SQLite
 * keeps its default `synchronous: full`).
 *
 * First the same gateway twice, once on SQLite (the default) and once with
 * `HERMES_STORAGE_BACKEND=postgres`: throughput and p50/p99 latency of
 * `POST /v1/chat/completions` on the local API with the echo agent, with 1
 * client and with 50 concurrent clients (each its own user), the gateway's
 * CPU time per message and, on PostgreSQL, the server's (all its
 * processes); and what one message costs PostgreSQL: transactions, row
 * writes and rows read by sequential scans (a table scanned whole per
 * message makes the figures depend on the run's length). PostgreSQL as
 * ratios of SQLite. `BENCH_MESSAGES` changes the 3,000 messages of each run
 * (PostgreSQL with 1 client is the slow one, about 80 a second here).
 *
 * Then pool failover, against the WeCom simulator: two gateways (separate
 * homes and lock folders) on one database, one bot, with a lease TTL of
 * 45 s (the default) and of 9 s. The owner's host lost (SIGSTOP: it
 * renews nothing and cannot be seen dead) at a random point of its renewal
 * cycle, until the other gateway subscribes, split into the lease time left
 * at the loss and the time from its expiry; then a planned handoff, from
 * `hermes gateway stop` on the owner until the other subscribes; then a
 * kill -9 of the new owner with a gateway of the same machine on standby,
 * which takes the bot without waiting for the lease. `BENCH_TRIALS` pools per TTL (default 3) side by side, so the
 * 45 s are waited once.
 *
 * @module
 */

import postgres from "postgres";
import { credentialHash } from "../../lib/storage/postgres/leases.ts";
import { WECOM_LOCK_SCOPE } from "../../lib/platforms/wecom/adapter.ts";
import { STANDBY_POLL_MS } from "../../lib/gateway/bot_leases.ts";
import { readRuntimeStatus } from "../../lib/process/runtime_status.ts";
import { hermesPaths } from "../../lib/config/home.ts";
import { freshDatabase } from "../_postgres.ts";
import { runHermes, tempDir } from "../_helpers.ts";
import { type BackgroundHermes, startGateway, waitFor } from "../gateway/_gateway.ts";
import { startLocalGateway } from "../e2e/_local.ts";
import { WecomServer } from "../fakes/wecom_server.ts";
import { BOT, wecomEnv } from "../e2e/_wecom.ts";
import { cpuSeconds, parentPid, treeCpuSeconds } from "./_proc.ts";
import { type ClientRun, runClients } from "./_local_clients.ts";

const MESSAGES = Number(Deno.env.get("BENCH_MESSAGES") ?? 3_000);
const TRIALS = Number(Deno.env.get("BENCH_TRIALS") ?? 3);
const TTLS_S = [45, 9];
const FAN_OUT = 50;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every gateway's stderr, read once it has exited. */
const stderrs: string[] = [];

async function stopGateway(gateway: BackgroundHermes): Promise<number> {
  gateway.child.kill("SIGINT");
  const code = await gateway.exited;
  stderrs.push(gateway.stderr());
  await gateway[Symbol.asyncDispose]();
  return code;
}

// ---- throughput -------------------------------------------------------------

interface Measured {
  run: ClientRun;
  /** Gateway CPU ms per message. */
  cpuMs: number;
  /** PostgreSQL server CPU ms per message (all its processes). */
  serverMs?: number;
  /** Per message, from pg_stat_database. */
  transactions?: number;
  rowWrites?: number;
  seqRows?: number;
}

interface Backend {
  name: string;
  one: Measured;
  many: Measured;
}

/** What the database at `url` has counted so far, and its server's process tree. */
async function dbWatch(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const [row] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
  const server = parentPid(row!.pid);
  const counts = async () => {
    await sleep(1_200); // backends flush their statistics at most once a second
    const [row] = await sql<{ xacts: string; writes: string; seq: string }[]>`
      SELECT xact_commit + xact_rollback AS xacts,
             tup_inserted + tup_updated + tup_deleted AS writes,
             (SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables) AS seq
      FROM pg_stat_database WHERE datname = current_database()`;
    return { xacts: Number(row!.xacts), writes: Number(row!.writes), seq: Number(row!.seq) };
  };
  return { server, counts, end: () => sql.end({ timeout: 1 }) };
}

async function backend(name: string, env: Record<string, string>, url?: string): Promise<Backend> {
  await using home = tempDir();
  const { gateway, url: base } = await startLocalGateway(home.path, {
    HERMES_LOG_LEVEL: "warn",
    ...env,
  });
  const endpoint = new URL("v1/chat/completions", base);
  const watch = url ? await dbWatch(url) : undefined;
  let result: Backend;
  let code: number;
  try {
    await runClients(endpoint, 1, 200); // warm-up
    const measure = async (clients: number): Promise<Measured> => {
      const before = await watch?.counts();
      const serverBefore = watch ? treeCpuSeconds(watch.server) : undefined;
      const cpu = cpuSeconds(gateway.pid);
      const run = await runClients(endpoint, clients, MESSAGES);
      const cpuMs = (cpuSeconds(gateway.pid) - cpu) * 1000 / run.messages;
      if (!watch || !before || !serverBefore) return { run, cpuMs };
      let server = 0;
      for (const [pid, seconds] of treeCpuSeconds(watch.server)) {
        server += seconds - (serverBefore.get(pid) ?? 0);
      }
      const after = await watch.counts();
      return {
        run,
        cpuMs,
        serverMs: server * 1000 / run.messages,
        transactions: (after.xacts - before.xacts) / run.messages,
        rowWrites: (after.writes - before.writes) / run.messages,
        seqRows: (after.seq - before.seq) / run.messages,
      };
    };
    result = { name, one: await measure(1), many: await measure(FAN_OUT) };
  } finally {
    await watch?.end();
    code = await stopGateway(gateway);
  }
  if (code !== 0) throw new Error(`The ${name} gateway exited ${code} on SIGINT, expected 0`);
  return result;
}

// ---- failover ---------------------------------------------------------------

/** Two homes on one database and one simulated bot; the first gateway owns it. */
interface Pool {
  wecom: WecomServer;
  url: string;
  env: Record<string, string>;
  homes: [string, string];
  owner: BackgroundHermes;
  standby: BackgroundHermes;
  cleanup: (() => PromiseLike<void>)[];
}

interface Trial {
  hostLostToSubscribeS: number;
  leaseLeftS: number;
  expiryToSubscribeS: number;
  stopToSubscribeS: number;
  /** From the owner's `serving_stopped_at` to the subscribe. */
  servingGapS: number;
  processKilledToSubscribeS: number;
}

function wecomState(home: string): unknown {
  const platforms = readRuntimeStatus(hermesPaths(home).runtimeStatus)?.platforms;
  return platforms?.wecom?.state;
}

async function startPool(ttlS: number): Promise<Pool> {
  const url = await freshDatabase();
  const wecom = await WecomServer.start();
  const a = tempDir();
  const b = tempDir();
  const env = wecomEnv(wecom.url, {
    HERMES_STORAGE_BACKEND: "postgres",
    HERMES_DATABASE_URL: url,
    HERMES_LEASE_TTL_SECONDS: String(ttlS),
    HERMES_LOG_LEVEL: "warn",
  });
  const cleanup = [
    () => wecom.close(),
    () => a[Symbol.asyncDispose](),
    () => b[Symbol.asyncDispose](),
  ];
  try {
    const owner = await startGateway(a.path, env);
    cleanup.unshift(() => owner[Symbol.asyncDispose]());
    await wecom.waitForSubscribe(BOT, 1, 20_000);
    // Else the standby's poll keeps one phase to the owner's lease, and so to its expiry.
    await sleep(Math.random() * STANDBY_POLL_MS);
    const standby = await startGateway(b.path, env);
    cleanup.unshift(() => standby[Symbol.asyncDispose]());
    await waitFor("the second gateway on standby", () => wecomState(b.path) === "standby");
    return { wecom, url, env, homes: [a.path, b.path], owner, standby, cleanup };
  } catch (error) {
    for (const step of cleanup) await step();
    throw error;
  }
}

/** Seconds until the bot's lease expires, by the database's clock. */
async function leaseLeftS(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const hash = await credentialHash(WECOM_LOCK_SCOPE, BOT);
    const [row] = await sql<{ left: number }[]>`
      SELECT extract(epoch FROM expires_at - clock_timestamp())::float8 AS left
      FROM credential_leases WHERE credential_hash = ${hash}`;
    if (!row) throw new Error(`Cannot read the lease of ${BOT}: no row in credential_leases`);
    return row.left;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * The owner's host lost at a random point of its renewal cycle (the pool
 * just started: it has claimed, not renewed): SIGSTOP, so that its process
 * is still there but renews nothing, as a host the standby cannot see;
 * resolves once the standby has subscribed, and kills the owner then.
 */
async function loseOwnerHost(pool: Pool, ttlS: number) {
  await sleep(Math.random() * ttlS * 1000 / 3);
  pool.owner.child.kill("SIGSTOP");
  const lostAt = performance.now();
  const leaseLeft = await leaseLeftS(pool.url);
  await pool.wecom.waitForSubscribe(BOT, 2, (ttlS + 20) * 1000);
  const tookS = (performance.now() - lostAt) / 1000;
  pool.owner.child.kill("SIGKILL");
  await pool.owner.exited;
  stderrs.push(pool.owner.stderr());
  return {
    hostLostToSubscribeS: tookS,
    leaseLeftS: leaseLeft,
    expiryToSubscribeS: tookS - leaseLeft,
  };
}

/**
 * kill -9 of the owner (the gateway that took the bot in the planned
 * handoff) with a gateway of the same machine on standby: resolves once
 * that one has subscribed, which it does without waiting for the lease.
 */
async function killOwnerProcess(pool: Pool, owner: BackgroundHermes, ownerHome: string) {
  const otherHome = pool.homes.find((home) => home !== ownerHome)!;
  const standby = await startGateway(otherHome, pool.env);
  pool.cleanup.unshift(() => standby[Symbol.asyncDispose]());
  await waitFor("a gateway on standby", () => wecomState(otherHome) === "standby");
  await sleep(Math.random() * STANDBY_POLL_MS);
  owner.child.kill("SIGKILL");
  const killedAt = performance.now();
  await pool.wecom.waitForSubscribe(BOT, 4, 20_000);
  const tookS = (performance.now() - killedAt) / 1000;
  await owner.exited;
  stderrs.push(owner.stderr(), standby.stderr());
  return { processKilledToSubscribeS: tookS };
}

/**
 * A new gateway in the dead owner's home on standby, then `gateway stop` on
 * the new owner at a random point of the standby's poll.
 */
async function plannedHandoff(pool: Pool) {
  const [first, second] = pool.homes;
  const next = await startGateway(first, pool.env);
  pool.cleanup.unshift(() => next[Symbol.asyncDispose]());
  await waitFor("the restarted gateway on standby", () => wecomState(first) === "standby");
  await sleep(Math.random() * STANDBY_POLL_MS);
  const started = performance.now();
  const stop = await runHermes(["gateway", "stop"], {
    home: second,
    env: { ...pool.env, HERMES_GATEWAY_LOCK_DIR: `${second}/locks` },
  });
  if (stop.code !== 0) throw new Error(`Cannot stop the owner: exit ${stop.code}: ${stop.stderr}`);
  await pool.wecom.waitForSubscribe(BOT, 3, 20_000);
  const subscribedAt = Date.now();
  const stopToSubscribeS = (performance.now() - started) / 1000;
  const code = await pool.standby.exited;
  if (code !== 0) throw new Error(`The stopped owner exited ${code}, expected 0`);
  stderrs.push(pool.standby.stderr());
  const stoppedServing = readRuntimeStatus(hermesPaths(second).runtimeStatus)?.serving_stopped_at;
  const servingGapS = stoppedServing ? (subscribedAt - Date.parse(stoppedServing)) / 1000 : NaN;
  return { stopToSubscribeS, servingGapS, next };
}

async function failover(ttlS: number): Promise<Trial[]> {
  const pools = await Promise.all(Array.from({ length: TRIALS }, () => startPool(ttlS)));
  try {
    const lost = await Promise.all(pools.map((pool) => loseOwnerHost(pool, ttlS)));
    const trials: Trial[] = [];
    for (const [i, pool] of pools.entries()) {
      const { next, ...handoff } = await plannedHandoff(pool);
      const killed = await killOwnerProcess(pool, next, pool.homes[0]);
      trials.push({ ...lost[i]!, ...handoff, ...killed });
    }
    return trials;
  } finally {
    for (const pool of pools) for (const step of pool.cleanup) await step();
  }
}

// ---- report -----------------------------------------------------------------

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Error and warning lines of every gateway's stderr (JSON lines), counted by message. */
function logSummary(): string {
  const counts = new Map<string, number>();
  let errors = 0;
  let warnings = 0;
  for (const line of stderrs.join("\n").split("\n")) {
    if (!line.trim()) continue;
    let entry: { level?: string; msg?: string };
    try {
      entry = JSON.parse(line);
    } catch {
      entry = { level: "error", msg: line.slice(0, 80) }; // not a log line: a crash's output
    }
    if (entry.level === "error" || entry.level === "fatal") errors++;
    else if (entry.level === "warn") warnings++;
    else continue;
    const key = `${entry.level}: ${entry.msg}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 4)
    .map(([key, n]) => `${n}x ${key}`);
  return `gateway stderr: ${errors} error, ${warnings} warn lines${
    top.length ? `\n  ${top.join("\n  ")}` : ""
  }`;
}

const sqlite = await backend("SQLite", {});
const database = await freshDatabase();
const pg = await backend("PostgreSQL", {
  HERMES_STORAGE_BACKEND: "postgres",
  HERMES_DATABASE_URL: database,
}, database);
const failovers = new Map<number, Trial[]>();
for (const ttl of TTLS_S) failovers.set(ttl, await failover(ttl));

const fixed = (value: number | undefined, digits: number, width: number) =>
  (value === undefined ? "-" : value.toFixed(digits)).padStart(width);
const row = (label: string, m: Measured, base?: Measured) =>
  `${label.padEnd(24)} ${String(m.run.messages).padStart(5)} ${
    String(m.run.per_second).padStart(7)
  } ${fixed(m.run.p50_ms, 2, 8)} ${fixed(m.run.p99_ms, 2, 8)} ${fixed(m.cpuMs, 2, 9)} ${
    fixed(m.serverMs, 2, 9)
  }${
    base
      ? `   msg/s ${(m.run.per_second / base.run.per_second).toFixed(2)}x, p50 ${
        (m.run.p50_ms / base.run.p50_ms).toFixed(1)
      }x, p99 ${(m.run.p99_ms / base.run.p99_ms).toFixed(1)}x, gw CPU ${
        (m.cpuMs / base.cpuMs).toFixed(1)
      }x`
      : ""
  }`;

console.log(
  `PostgreSQL vs SQLite storage, local API, echo agent, 127.0.0.1 (${Deno.build.target}, deno ${Deno.version.deno})`,
);
console.log(
  "SQLite: synchronous full (the default); PostgreSQL: tests/_postgres.ts server, fsync off",
);
console.log(
  "run                       msgs   msg/s   p50 ms   p99 ms  gw ms CPU  db ms CPU   PostgreSQL vs SQLite",
);
console.log(row("SQLite, 1 client", sqlite.one));
console.log(row("PostgreSQL, 1 client", pg.one, sqlite.one));
console.log(row(`SQLite, ${FAN_OUT} clients`, sqlite.many));
console.log(row(`PostgreSQL, ${FAN_OUT} clients`, pg.many, sqlite.many));
const costs = (m: Measured) =>
  `${m.transactions?.toFixed(1)} transactions, ${m.rowWrites?.toFixed(1)} row writes, ${
    m.seqRows?.toFixed(0)
  } rows read by sequential scans`;
console.log(`PostgreSQL per message, 1 client: ${costs(pg.one)}`);
console.log(`PostgreSQL per message, ${FAN_OUT} clients: ${costs(pg.many)}`);
console.log(
  `pool failover, WeCom simulator, 2 gateways on one database, ${TRIALS} pools per TTL, median (min-max):`,
);
const ttls = [...failovers.keys()];
console.log(`${"".padEnd(34)}${ttls.map((ttl) => `TTL ${ttl} s`.padEnd(24)).join("")}`.trimEnd());
const line = (label: string, pick: (t: Trial) => number) => {
  const cells = [...failovers.values()].map((trials) => {
    const values = trials.map(pick);
    return `${median(values).toFixed(2)} s (${Math.min(...values).toFixed(1)}-${
      Math.max(...values).toFixed(1)
    })`.padEnd(24);
  });
  console.log(`${label.padEnd(34)}${cells.join("")}`.trimEnd());
};
line("owner host lost -> taken", (t) => t.hostLostToSubscribeS);
line("  lease left at the loss", (t) => t.leaseLeftS);
line("  lease expiry -> taken", (t) => t.expiryToSubscribeS);
line("gateway stop -> taken", (t) => t.stopToSubscribeS);
line("  owner stopped serving -> taken", (t) => t.servingGapS);
line("kill -9, same machine -> taken", (t) => t.processKilledToSubscribeS);
console.log(
  `(taken: the other gateway subscribed; it polls a held lease every ${STANDBY_POLL_MS / 1000} s)`,
);
console.log(logSummary());
