/**
 * The message pipeline through the local API with the echo agent (`deno task
 * bench`): a real gateway subprocess, real HTTP on 127.0.0.1, every message
 * journaled, answered, stored and indexed in state.db.
 *
 * Reports throughput and p50/p99 latency of `POST /v1/chat/completions` with
 * 1 client and with 50 concurrent clients (each its own user and session),
 * for the gateway and, in the same run, for the ceiling: a plain
 * `Deno.serve` process doing the same JSON work (`_json_echo_server.ts`),
 * as ratios; and the gateway's resident memory when idle and after 100,000
 * messages. `BENCH_MESSAGES` changes the 100,000; `BENCH_SYNCHRONOUS=normal`
 * runs the gateway with `storage.synchronous: normal`.
 *
 * @module
 */

import { cliRunFlags } from "../../scripts/permissions.ts";
import { type ClientRun, runClients } from "./_local_clients.ts";

const TOTAL = Number(Deno.env.get("BENCH_MESSAGES") ?? 100_000);
const root = new URL("../../", import.meta.url).pathname;
const home = Deno.makeTempDirSync({ prefix: "hermes-pipeline-" });

const gateway = new Deno.Command(Deno.execPath(), {
  args: ["run", ...cliRunFlags(), `${root}cli/main.ts`, "gateway", "run"],
  env: {
    HERMES_HOME: home,
    HERMES_GATEWAY_LOCK_DIR: `${home}/locks`,
    LOCAL_PORT: "0",
    HERMES_LOG_LEVEL: "warn",
    HERMES_STORAGE_SYNCHRONOUS: Deno.env.get("BENCH_SYNCHRONOUS") ?? "full",
    NO_COLOR: "1",
  },
  stdout: "null",
  stderr: "inherit",
}).spawn();

const url = await localUrl();
const endpoint = new URL("v1/chat/completions", url);
let sent = 0; // the gateway's messages, warm-up included

async function run(clients: number, messages: number): Promise<ClientRun> {
  const result = await runClients(endpoint, clients, messages);
  sent += result.messages;
  return result;
}

function rssMiB(): number {
  const status = Deno.readTextFileSync(`/proc/${gateway.pid}/status`);
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return +(kib / 1024).toFixed(1);
}

async function localUrl(): Promise<string> {
  for (let i = 0; i < 1000; i++) {
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

/** Runs the ceiling server, measures it at 1 and 50 clients, stops it. */
async function ceiling() {
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", `${root}tests/bench/_json_echo_server.ts`],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const first = (await reader.read()).value ?? "";
  const at = new URL("v1/chat/completions", first.trim());
  try {
    await runClients(at, 1, 200); // warm-up
    return {
      one_client: await runClients(at, 1, 2_000),
      fifty_clients: await runClients(at, 50, 5_000),
    };
  } finally {
    reader.releaseLock();
    server.kill("SIGTERM");
    await server.status;
    await server.stdout.cancel().catch(() => {});
  }
}

const ratio = (gateway: ClientRun, top: ClientRun) => ({
  throughput: +(gateway.per_second / top.per_second).toFixed(3),
  p50: +(gateway.p50_ms / top.p50_ms).toFixed(1),
  p99: +(gateway.p99_ms / top.p99_ms).toFixed(1),
});

try {
  const top = await ceiling();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const idle = rssMiB();
  await run(1, 200); // warm-up
  const single = await run(1, 2_000);
  const many = await run(50, 5_000);
  const rest = TOTAL - sent;
  if (rest > 0) await run(50, rest);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = rssMiB();
  const dbBytes = Deno.statSync(`${home}/state.db`).size;
  console.log(JSON.stringify(
    {
      bench: "pipeline (local API, echo agent)",
      one_client: single,
      fifty_clients: many,
      ceiling: top,
      gateway_vs_ceiling: {
        one_client: ratio(single, top.one_client),
        fifty_clients: ratio(many, top.fifty_clients),
      },
      rss_idle_mib: idle,
      rss_after_messages: { messages: sent, rss_mib: after },
      state_db_mib: +(dbBytes / 2 ** 20).toFixed(1),
    },
    null,
    2,
  ));
} finally {
  gateway.kill("SIGINT");
  await gateway.status;
  Deno.removeSync(home, { recursive: true });
}
