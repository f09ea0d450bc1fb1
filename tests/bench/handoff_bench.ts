/**
 * The dead window of `hermes gateway run --replace` (`deno task bench`): the
 * time between the old gateway ceasing to serve (its `serving_stopped_at`)
 * and the new one reporting `running`, as the new gateway measures it and
 * writes it to gateway-starts.log. Also the whole handoff as an operator
 * sees it: from launching `run --replace` to the new gateway running.
 *
 * @module
 */

import { cliRunFlags } from "../../scripts/permissions.ts";

const REPLACES = Number(Deno.env.get("BENCH_REPLACES") ?? 20);
const root = new URL("../../", import.meta.url).pathname;
const home = Deno.makeTempDirSync({ prefix: "hermes-handoff-" });
const env = { HERMES_HOME: home, HERMES_GATEWAY_LOCK_DIR: `${home}/locks`, NO_COLOR: "1" };

function launch(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...cliRunFlags(), `${root}cli/main.ts`, "gateway", "run", ...args],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function untilRunning(pid: number): Promise<void> {
  while (true) {
    try {
      const status = JSON.parse(Deno.readTextFileSync(`${home}/gateway_state.json`));
      if (status.pid === pid && status.gateway_state === "running") return;
    } catch {
      // being replaced right now
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function deadWindow(pid: number): number {
  for (const line of Deno.readTextFileSync(`${home}/gateway-starts.log`).split("\n")) {
    if (!line) continue;
    const entry = JSON.parse(line);
    if (entry.pid === pid && typeof entry.dead_window_ms === "number") return entry.dead_window_ms;
  }
  throw new Error(`gateway ${pid} recorded no dead window`);
}

let current = launch([]);
await untilRunning(current.pid);
const windows: number[] = [];
const handoffs: number[] = [];
for (let i = 0; i < REPLACES; i++) {
  const started = performance.now();
  const next = launch(["--replace"]);
  await untilRunning(next.pid);
  handoffs.push(performance.now() - started);
  const code = (await current.status).code;
  if (code !== 0) throw new Error(`the replaced gateway exited ${code}, expected 0`);
  // The new gateway writes its dead window right after reporting running.
  await new Promise((resolve) => setTimeout(resolve, 50));
  windows.push(deadWindow(next.pid));
  current = next;
}
current.kill("SIGINT");
await current.status;
Deno.removeSync(home, { recursive: true });

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`gateway run --replace, ${REPLACES} handoffs (${Deno.build.target})`);
console.log(
  `dead window (old stops serving -> new running): median ${median(windows).toFixed(0)} ms, worst ${
    Math.max(...windows).toFixed(0)
  } ms`,
);
console.log(
  `whole handoff (launch --replace -> new running): median ${
    median(handoffs).toFixed(0)
  } ms, worst ${Math.max(...handoffs).toFixed(0)} ms`,
);
