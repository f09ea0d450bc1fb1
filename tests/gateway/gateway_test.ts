import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { callControl } from "../../lib/gateway/control_client.ts";
import { Gateway, type TrackedWork } from "../../lib/gateway/gateway.ts";
import { STOP_REQUESTS } from "../../lib/gateway/stop_request.ts";
import { readRuntimeStatus } from "../../lib/process/runtime_status.ts";
import { Logger } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";
import { tempDir } from "../_helpers.ts";

function newGateway(
  home: string,
  drainTimeoutMs: number,
  takeoverDrainMs = drainTimeoutMs,
  clock?: () => number,
) {
  const lines: string[] = [];
  const log = new Logger({
    level: "debug",
    sinks: [{ format: "json", write: (_line, record) => void lines.push(record.msg) }],
    masker: new SecretMasker(),
  });
  const paths = hermesPaths(home);
  return {
    paths,
    lines,
    gateway: new Gateway({ paths, log, drainTimeoutMs, takeoverDrainMs, supervisor: null, clock }),
  };
}

const later = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

Deno.test("a drain waits for in-flight work, then records stopped with the exit code", async () => {
  await using dir = tempDir();
  const { paths, gateway } = newGateway(dir.path, 10_000);
  await gateway.announceStarting();
  await gateway.start();
  let finished = false;
  const turn = gateway.track("agent turn", later(150).then(() => finished = true));
  assert.equal(gateway.activeWork, 1);
  const abandoned: TrackedWork[] = [];
  gateway.onDrainTimeout((pending) => void abandoned.push(...pending));
  gateway.requestStop(STOP_REQUESTS.restart);
  await gateway.shutdown(await gateway.stopRequested);
  assert.ok(finished, "the turn finished before the gateway stopped");
  assert.deepEqual(abandoned, []);
  await turn;
  const status = readRuntimeStatus(paths.runtimeStatus);
  assert.equal(status?.gateway_state, "stopped");
  assert.equal(status?.exit_code, 75);
  assert.equal(status?.active_agents, 0);
  assert.ok(status?.serving_stopped_at);
});

Deno.test("work still running when the drain budget is spent goes to the resume hook", async () => {
  await using dir = tempDir();
  const { gateway } = newGateway(dir.path, 50);
  await gateway.start();
  const release = Promise.withResolvers<void>();
  const turn = gateway.track("turn for alice", release.promise);
  const abandoned: string[] = [];
  gateway.onDrainTimeout((pending) => void abandoned.push(...pending.map((w) => w.label)));
  await gateway.shutdown(STOP_REQUESTS.stopped);
  assert.deepEqual(abandoned, ["turn for alice"]);
  release.resolve();
  await turn;
});

Deno.test("a replacement gets the shorter takeover budget; a second stop request cuts the drain short", async (t) => {
  await t.step("takeover budget", async () => {
    await using dir = tempDir();
    const { gateway } = newGateway(dir.path, 60_000, 50);
    const release = Promise.withResolvers<void>();
    const turn = gateway.track("long turn", release.promise);
    const started = performance.now();
    await gateway.shutdown(STOP_REQUESTS.replaced);
    assert.ok(performance.now() - started < 30_000, "did not wait the full drain timeout");
    release.resolve();
    await turn;
  });
  await t.step("second request", async () => {
    await using dir = tempDir();
    let now = 0;
    const { gateway } = newGateway(dir.path, 60_000, 60_000, () => now);
    const release = Promise.withResolvers<void>();
    const turn = gateway.track("long turn", release.promise);
    assert.equal(gateway.requestStop(STOP_REQUESTS.interrupted), true);
    const shutdown = gateway.shutdown(await gateway.stopRequested);
    now += 5_000;
    assert.equal(gateway.requestStop(STOP_REQUESTS.interrupted), false);
    await shutdown;
    assert.equal(gateway.state, "stopped");
    release.resolve();
    await turn;
  });
});

Deno.test("a stop request within 1 s of the first is the same request; one later cuts the drain short", async () => {
  await using dir = tempDir();
  let now = 10_000;
  const { gateway, lines } = newGateway(dir.path, 60_000, 60_000, () => now);
  await gateway.start();
  const release = Promise.withResolvers<void>();
  const turn = gateway.track("streaming turn", release.promise);
  const abandoned: string[] = [];
  gateway.onDrainTimeout((pending) => void abandoned.push(...pending.map((w) => w.label)));

  assert.equal(gateway.requestStop(STOP_REQUESTS.interrupted), true);
  const shutdown = gateway.shutdown(await gateway.stopRequested);
  now += 1_000; // Ctrl-C under `deno task`: the forwarded copy of the same SIGINT
  assert.equal(gateway.requestStop(STOP_REQUESTS.interrupted), false);
  await later(0);
  assert.equal(gateway.state, "draining", "still waiting for the turn");
  assert.ok(lines.includes("repeated stop request counts as the first"));
  assert.ok(!lines.some((l) => l.startsWith("second stop request")));

  now += 1; // 1001 ms after the first: the person pressed Ctrl-C again
  assert.equal(gateway.requestStop(STOP_REQUESTS.interrupted), false);
  await shutdown;
  assert.equal(gateway.state, "stopped");
  assert.deepEqual(abandoned, ["streaming turn"], "the drain stopped waiting for it");
  assert.ok(lines.some((l) => l.startsWith("second stop request")));
  release.resolve();
  await turn;
});

Deno.test("the control socket's drain method asks the gateway to stop with the requested exit", async () => {
  await using dir = tempDir();
  const { paths, gateway } = newGateway(dir.path, 1_000);
  await gateway.start();
  await assert.rejects(
    callControl(paths.controlSocket, "drain", { exit: "later" }),
    /expected "restart" or "stop"/,
  );
  const live = await callControl(paths.controlSocket, "status") as Record<string, unknown>;
  assert.equal(live.state, "running");
  assert.equal(live.pid, Deno.pid);
  const answer = await callControl(paths.controlSocket, "drain", { exit: "stop" });
  assert.deepEqual(answer, { accepted: true, state: "draining", exit_code: 0 });
  const request = await gateway.stopRequested;
  assert.equal(request.exitCode, 0);
  await gateway.shutdown(request);
});

Deno.test("a burst of turns is counted in gateway_state.json within a second, the file not rewritten per turn", async () => {
  await using dir = tempDir();
  const { paths, gateway } = newGateway(dir.path, 10_000);
  await gateway.start();
  // Each write of the file is a new temporary file renamed over it: count those.
  const watcher = Deno.watchFs(dir.path);
  let writes = 0;
  const counting = (async () => {
    for await (const event of watcher) {
      if (
        event.kind === "create" && event.paths.some((p) => /gateway_state\.json\..*\.tmp$/.test(p))
      ) {
        writes++;
      }
    }
  })();
  const held = Promise.withResolvers<void>();
  const turns = Array.from({ length: 5 }, (_, i) => gateway.track(`held ${i}`, held.promise));
  const started = performance.now();
  for (let i = 0; i < 200; i++) await gateway.track(`quick ${i}`, later(2));
  const burstSeconds = (performance.now() - started) / 1000;
  await later(1_300);
  assert.equal(
    readRuntimeStatus(paths.runtimeStatus)?.active_agents,
    5,
    "the held turns, at most a second late",
  );
  held.resolve();
  await Promise.all(turns);
  await later(1_300);
  assert.equal(readRuntimeStatus(paths.runtimeStatus)?.active_agents, 0);
  watcher.close();
  await counting;
  const allowed = Math.ceil(burstSeconds + 2.6) + 2;
  assert.ok(
    writes <= allowed,
    `410 changes of the count in ${
      burstSeconds.toFixed(1)
    } s: ${writes} writes (at most ${allowed})`,
  );
  gateway.requestStop(STOP_REQUESTS.restart);
  await gateway.shutdown(await gateway.stopRequested);
});
