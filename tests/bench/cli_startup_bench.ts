/**
 * Cold start of the CLI against an empty Deno script (`deno task bench`).
 *
 * Each case is a fresh `deno run` process with the `hermes` task's
 * permissions, run RUNS times after WARMUP runs (so Deno's module and code
 * caches are warm, as they are for an installed CLI). Prints the median and
 * p90 wall time of each case and its ratio to the empty script's median.
 *
 * @module
 */

import { PairingStore } from "../../lib/auth/pairing.ts";
import { hermesPaths } from "../../lib/config/home.ts";
import { cliRunFlags } from "../../scripts/permissions.ts";

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 40);
const WARMUP = 3;
const root = new URL("../../", import.meta.url).pathname;
const scratch = Deno.makeTempDirSync({ prefix: "hermes-bench-" });
const empty = `${scratch}/empty.ts`;
Deno.writeTextFileSync(empty, "");
const home = `${scratch}/home`;
Deno.mkdirSync(home);
Deno.writeTextFileSync(
  `${home}/config.yaml`,
  "gateway:\n  drain_timeout: 120\nlogging:\n  level: info\n",
);
Deno.writeTextFileSync(`${home}/.env`, "DISCORD_BOT_TOKEN=bench-secret\n");

const flags = cliRunFlags();
const bundle = `${root}dist/hermes.js`;
const haveBundle = (() => {
  try {
    return Deno.statSync(bundle).isFile;
  } catch {
    return false;
  }
})();

// A gateway in its own home, for `gateway status` answered over the control socket.
const liveHome = `${scratch}/live`;
const live = new Deno.Command(Deno.execPath(), {
  args: ["run", ...flags, `${root}cli/main.ts`, "gateway", "run"],
  env: { HERMES_HOME: liveHome, HERMES_GATEWAY_LOCK_DIR: `${scratch}/locks`, NO_COLOR: "1" },
  stdout: "null",
  stderr: "null",
}).spawn();
while (
  !(() => {
    try {
      return Deno.readTextFileSync(`${liveHome}/gateway_state.json`).includes('"running"');
    } catch {
      return false;
    }
  })()
) await new Promise((resolve) => setTimeout(resolve, 20));

// Pending codes for `pair approve`, asked through the store as the gateway asks: a fresh
// user each run (the store allows one request per user in 10 minutes).
const pairing = new PairingStore(hermesPaths(home).pairingDir);
let seeded = 0;
async function pendingCode(): Promise<string> {
  const request = await pairing.requestCode("local", `bench-user-${seeded++}`);
  if (request.kind !== "code") throw new Error(`Cannot seed a pairing code: ${request.kind}`);
  return request.code;
}
await pendingCode(); // one pending request for `pair list` to show

/** A case: its name, deno's arguments (some asked for before each run), and its home. */
type Case = [string, string[] | (() => Promise<string[]>), string?];

const cases: Case[] = [
  ["empty script", ["run", empty]],
  ["hermes --help", ["run", ...flags, `${root}cli/main.ts`, "--help"]],
  ["hermes config check", ["run", ...flags, `${root}cli/main.ts`, "config", "check"]],
  ["gateway status (not running)", ["run", ...flags, `${root}cli/main.ts`, "gateway", "status"]],
  [
    "gateway status (running)",
    ["run", ...flags, `${root}cli/main.ts`, "gateway", "status"],
    liveHome,
  ],
  ["hermes pair list", ["run", ...flags, `${root}cli/main.ts`, "pair", "list"]],
  [
    "hermes pair approve CODE",
    async () => ["run", ...flags, `${root}cli/main.ts`, "pair", "approve", await pendingCode()],
  ],
  ...(haveBundle
    ? [
      ["dist/hermes.js --help", ["run", ...flags, bundle, "--help"]],
      ["dist/hermes.js config check", ["run", ...flags, bundle, "config", "check"]],
    ] as Case[]
    : []),
];

async function timeOnce(argsOf: Case[1], caseHome = home): Promise<number> {
  const args = typeof argsOf === "function" ? await argsOf() : argsOf;
  const start = performance.now();
  const result = new Deno.Command(Deno.execPath(), {
    args,
    env: { HERMES_HOME: caseHome, NO_COLOR: "1" },
    stdout: "null",
    stderr: "null",
  }).outputSync();
  const elapsed = performance.now() - start;
  // `gateway status` exits 3 when no gateway runs: that is its answer, not a failure.
  if (!result.success && result.code !== 3) {
    throw new Error(`deno ${args.join(" ")} exited with ${result.code}`);
  }
  return elapsed;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const results: Array<{ name: string; median: number; p90: number }> = [];
for (const [name, args, caseHome] of cases) {
  for (let i = 0; i < WARMUP; i++) await timeOnce(args, caseHome);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await timeOnce(args, caseHome));
  times.sort((a, b) => a - b);
  results.push({ name, median: quantile(times, 0.5), p90: quantile(times, 0.9) });
}

const baseline = results[0]!.median;
console.log(`CLI cold start, ${RUNS} runs each (${Deno.build.target}, deno ${Deno.version.deno})`);
console.log("case                              median     p90   ratio");
for (const { name, median, p90 } of results) {
  console.log(
    `${name.padEnd(32)} ${median.toFixed(1).padStart(6)}ms ${p90.toFixed(1).padStart(6)}ms ${
      (median / baseline).toFixed(2).padStart(6)
    }x`,
  );
}
if (!haveBundle) console.log("(run deno task bundle first to include dist/hermes.js)");
live.kill("SIGINT");
await live.status;
Deno.removeSync(scratch, { recursive: true });
