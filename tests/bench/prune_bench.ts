/**
 * Retention on a large state.db (`deno task bench`): 1,000,000 stored and
 * indexed messages, 20% of them in sessions that ended past the retention.
 *
 * Reports, first in this process, the cost of `pruneSessions` (wall time,
 * messages per second, units of work, and the longest the event loop was
 * held: what a reply waiting for the same connection waits at most), and of
 * the VACUUM that may follow it; then, with a real gateway subprocess on a
 * copy of the same database, the reply latency of the local API (echo
 * agent, 4 concurrent clients) for the first LOAD_SECONDS of the gateway's
 * own background prune, and how fast it prunes under that load, against the
 * same load once the prune is done, as ratios. (Under a saturating load the
 * prune goes at a walk: the whole of it would take half an hour.)
 * `BENCH_MESSAGES` changes the 1,000,000.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { cliRunFlags } from "../../scripts/permissions.ts";
import { ask } from "./_local_clients.ts";
import { openDatabase, transaction } from "../../lib/storage/sqlite/database.ts";
import { STATE_MIGRATIONS } from "../../lib/storage/sqlite/migrations.ts";
import { SearchIndex } from "../../lib/storage/sqlite/search_index.ts";
import { openSqliteStateStore } from "../../lib/storage/sqlite/state_store.ts";

const MESSAGES = Number(Deno.env.get("BENCH_MESSAGES") ?? 1_000_000);
const PER_SESSION = 100;
const EXPIRED_SHARE = 0.2;
const CLIENTS = 4;
/** Replies not counted while the gateway warms up (the prune starts with it). */
const WARMUP = 10_000;
/** How long the clients load the gateway while it prunes. */
const LOAD_SECONDS = 60;
const DAY_MS = 86_400_000;
const root = new URL("../../", import.meta.url).pathname;
const work = Deno.makeTempDirSync({ prefix: "hermes-prune-" });

/** Builds state.db with MESSAGES messages, the oldest EXPIRED_SHARE in sessions ended 100 days ago. */
function build(path: string): { seconds: number; expired: number; mib: number } {
  const started = performance.now();
  const db = openDatabase(path, STATE_MIGRATIONS, { synchronous: "normal" });
  const sessions = Math.ceil(MESSAGES / PER_SESSION);
  const expiredSessions = Math.round(sessions * EXPIRED_SHARE);
  const now = Date.now();
  const addSession = db.prepare(
    `INSERT INTO sessions (key, platform, chat_type, chat_id, user_id, started_at, updated_at, ended_at, end_reason)
     VALUES (?, 'bench', 'dm', ?, ?, ?, ?, ?, ?)`,
  );
  const addMessage = db.prepare(
    `INSERT INTO messages (session_id, platform, role, sender, text, created_at)
     VALUES (?, 'bench', ?, ?, ?, ?)`,
  );
  let n = 0;
  for (let first = 0; first < sessions; first += 1_000) {
    transaction(db, () => {
      for (let s = first; s < Math.min(sessions, first + 1_000); s++) {
        const expired = s < expiredSessions;
        const at = new Date(expired ? now - 100 * DAY_MS : now - 3_600_000).toISOString();
        const id = Number(
          addSession.run(
            `agent:main:bench:dm:u${s}`,
            `u${s}`,
            `u${s}`,
            at,
            at,
            expired ? at : null,
            expired ? "idle" : null,
          ).lastInsertRowid,
        );
        for (let m = 0; m < PER_SESSION && n < MESSAGES; m++, n++) {
          const user = m % 2 === 0;
          addMessage.run(
            id,
            user ? "user" : "assistant",
            user ? `u${s}` : null,
            `message ${n} about the quarterly weather report of week ${n % 53} 天气很好`,
            at,
          );
        }
      }
    });
  }
  const index = new SearchIndex(db);
  while (transaction(db, () => index.catchUp(50_000)) === 50_000);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  return {
    seconds: +((performance.now() - started) / 1000).toFixed(1),
    expired: expiredSessions,
    mib: +(Deno.statSync(path).size / 2 ** 20).toFixed(1),
  };
}

/** The longest the event loop was held while `work` ran (a 1 ms timer's worst lateness). */
async function withLoopLag<T>(work: () => Promise<T>): Promise<{ result: T; maxLagMs: number }> {
  let last = performance.now();
  let maxLag = 0;
  const timer = setInterval(() => {
    const at = performance.now();
    maxLag = Math.max(maxLag, at - last - 1);
    last = at;
  }, 1);
  try {
    return { result: await work(), maxLagMs: +maxLag.toFixed(1) };
  } finally {
    clearInterval(timer);
  }
}

async function pruneInProcess(path: string) {
  const store = openSqliteStateStore(path);
  try {
    const commits = store.commits;
    const started = performance.now();
    const cutoff = new Date(Date.now() - 90 * DAY_MS);
    const { result, maxLagMs } = await withLoopLag(() => store.pruneSessions(cutoff));
    const seconds = (performance.now() - started) / 1000;
    const vacuumStarted = performance.now();
    await store.vacuum();
    return {
      removed: result,
      seconds: +seconds.toFixed(1),
      messages_per_second: Math.round(result.messages / seconds),
      units_of_work: store.commits - commits,
      longest_loop_stall_ms: maxLagMs,
      vacuum_seconds: +((performance.now() - vacuumStarted) / 1000).toFixed(1),
      mib_after_vacuum: +(Deno.statSync(path).size / 2 ** 20).toFixed(1),
    };
  } finally {
    store.close();
  }
}

/** Messages of the expired sessions still in the gateway's state.db. */
function expiredLeft(home: string): number {
  const db = new DatabaseSync(`${home}/state.db`, { readOnly: true });
  try {
    const cutoff = new Date(Date.now() - 90 * DAY_MS).toISOString();
    return (db.prepare(
      `SELECT count(*) AS n FROM messages
         WHERE session_id IN (SELECT id FROM sessions WHERE ended_at < ?)`,
    ).get(cutoff) as { n: number }).n;
  } finally {
    db.close();
  }
}

/** A gateway on `home`; resolves `pruned` when its log says the background prune is done. */
function startGateway(home: string) {
  Deno.writeTextFileSync(`${home}/config.yaml`, "sessions:\n  reset:\n    mode: none\n");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...cliRunFlags(), `${root}cli/main.ts`, "gateway", "run"],
    env: {
      HERMES_HOME: home,
      HERMES_GATEWAY_LOCK_DIR: `${home}/locks`,
      LOCAL_PORT: "0",
      HERMES_LOG_LEVEL: "info",
      HERMES_LOG_FORMAT: "json",
      NO_COLOR: "1",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const pruned = Promise.withResolvers<Record<string, unknown>>();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  (async () => {
    let buffer = "";
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 1);
        try {
          const record = JSON.parse(line);
          if (record.msg === "ended sessions pruned") pruned.resolve(record);
          else if (record.level === "warn" || record.level === "error") console.error(line);
        } catch {
          console.error(line);
        }
      }
    }
  })();
  return { child, pruned: pruned.promise };
}

async function localUrl(home: string): Promise<string> {
  for (let i = 0; i < 3000; i++) {
    try {
      const status = JSON.parse(Deno.readTextFileSync(`${home}/gateway_state.json`));
      const found = status.platforms?.local?.details?.url;
      if (status.gateway_state === "running" && found) return found;
    } catch {
      // not written yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("the gateway did not start");
}

/**
 * CLIENTS clients asking until `until` resolves (or `count` replies came);
 * their latencies, without the first `warmup` replies (a gateway just
 * started compiles its code on them).
 */
async function load(
  endpoint: URL,
  stop: { until?: Promise<unknown>; count?: number; warmup?: number },
) {
  let done = false;
  stop.until?.then(() => done = true);
  let latencies: number[] = [];
  let started = performance.now();
  let warming = stop.warmup ?? 0;
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    while (!done && (stop.count === undefined || latencies.length < stop.count)) {
      const took = await ask(endpoint, `bench-${c}`);
      if (warming > 0 && --warming === 0) {
        latencies = [];
        started = performance.now();
      } else latencies.push(took);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return {
    replies: latencies.length,
    per_second: Math.round(latencies.length / seconds),
    p50_ms: +at(0.5).toFixed(2),
    p99_ms: +at(0.99).toFixed(2),
    max_ms: +latencies.at(-1)!.toFixed(2),
  };
}

try {
  const source = `${work}/source.db`;
  const built = build(source);
  const local = `${work}/local.db`;
  Deno.copyFileSync(source, local);
  const inProcess = await pruneInProcess(local);

  const home = `${work}/home`;
  Deno.mkdirSync(home, { mode: 0o700 });
  Deno.copyFileSync(source, `${home}/state.db`);
  Deno.removeSync(source);
  Deno.removeSync(local);
  const gateway = startGateway(home);
  try {
    const endpoint = new URL("v1/chat/completions", await localUrl(home));
    const started = performance.now();
    const window = new Promise((resolve) => setTimeout(resolve, LOAD_SECONDS * 1000));
    const expiredBefore = expiredLeft(home);
    const during = await load(endpoint, {
      until: Promise.race([gateway.pruned, window]),
      warmup: WARMUP,
    });
    const loadSeconds = (performance.now() - started) / 1000;
    const prunedUnderLoad = expiredBefore - expiredLeft(home);
    const report = await gateway.pruned;
    const pruneSeconds = (performance.now() - started) / 1000;
    const after = await load(endpoint, { count: Math.max(during.replies, 2_000) });
    console.log(JSON.stringify(
      {
        bench: "retention prune",
        database: {
          messages: MESSAGES,
          expired_messages: built.expired * PER_SESSION,
          build_seconds: built.seconds,
          mib: built.mib,
        },
        prune_in_process: inProcess,
        gateway: {
          prune_seconds: +pruneSeconds.toFixed(1),
          load_seconds: +loadSeconds.toFixed(1),
          pruned_per_second_under_load: Math.round(prunedUnderLoad / loadSeconds),
          prune_log: { sessions: report.sessions, messages: report.messages },
          replies_while_pruning: during,
          replies_after: after,
          pruning_vs_not: {
            p50: +(during.p50_ms / after.p50_ms).toFixed(2),
            p99: +(during.p99_ms / after.p99_ms).toFixed(2),
            throughput: +(during.per_second / after.per_second).toFixed(2),
          },
        },
      },
      null,
      2,
    ));
  } finally {
    gateway.child.kill("SIGINT");
    await gateway.child.status;
  }
} finally {
  Deno.removeSync(work, { recursive: true });
}
