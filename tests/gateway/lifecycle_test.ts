import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { readIdentity } from "../../lib/process/identity.ts";
import { writeTakeoverMarker } from "../../lib/process/markers.ts";
import { readPidRecordFile } from "../../lib/process/pid_record.ts";
import { lockState } from "../../lib/process/runtime_lock.ts";
import { readRuntimeStatus } from "../../lib/process/runtime_status.ts";
import { raceTimeout, TIMED_OUT } from "../../lib/util/race_timeout.ts";
import { runHermes, tempDir } from "../_helpers.ts";
import { startGateway, startHermes, waitFor, waitRunning } from "./_gateway.ts";

function hermes(home: string, args: string[]) {
  return runHermes(args, { home, env: { HERMES_GATEWAY_LOCK_DIR: `${home}/locks` } });
}

async function statusJson(home: string) {
  const result = await hermes(home, ["gateway", "status", "--json"]);
  return { code: result.code, report: JSON.parse(result.stdout) };
}

/** The platforms of a status report, asserting there is at least one. */
function platformsOf(report: { platforms: Record<string, Record<string, unknown>> }) {
  const platforms = Object.entries(report.platforms);
  assert.ok(platforms.length > 0, "the local platform is on by default");
  return platforms;
}

Deno.test("status of a home that never ran says so and how to start it, not that nothing is configured", async () => {
  await using dir = tempDir();
  const human = await hermes(dir.path, ["gateway", "status"]);
  assert.equal(human.code, 3);
  assert.match(human.stdout, /^Gateway not running$/m);
  assert.match(human.stdout, /platforms: none seen yet \(start it with `hermes gateway run`\)/);
});

Deno.test("a second run in the same home exits 1 naming the first PID; status shows it running", async () => {
  await using dir = tempDir();
  await using gateway = await startGateway(dir.path);

  const second = await hermes(dir.path, ["gateway", "run"]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`Gateway already running \\(PID ${gateway.pid}\\)`));
  for (const way of ["gateway restart", "gateway stop", "gateway run --replace"]) {
    assert.ok(second.stderr.includes(way), `names the way forward: ${way}`);
  }

  const { code, report } = await statusJson(dir.path);
  assert.equal(code, 0);
  assert.equal(report.running, true);
  assert.equal(report.pid, gateway.pid);
  assert.equal(report.state, "running");
  assert.equal(report.source, "socket");
  assert.equal(report.platforms.local?.connected, true, "the local web chat is on by default");
  assert.ok(Date.parse(report.started_at) <= Date.now());
  assert.equal(readPidRecordFile(hermesPaths(dir.path).pidFile)?.pid, gateway.pid);
});

Deno.test("stop: the gateway exits 0, gateway.pid is gone, the lock is free, the state is stopped", async () => {
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  await using gateway = await startGateway(dir.path);

  const stop = await hermes(dir.path, ["gateway", "stop"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, new RegExp(`Gateway stopped \\(PID ${gateway.pid}\\)`));
  assert.equal(await gateway.exited, 0);
  await assert.rejects(Deno.stat(paths.pidFile), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(paths.plannedStopMarker), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(paths.controlSocket), Deno.errors.NotFound);
  assert.equal(lockState(paths.lockFile).held, false);
  const state = readRuntimeStatus(paths.runtimeStatus);
  assert.equal(state?.gateway_state, "stopped");
  assert.equal(state?.exit_code, 0);

  const { code, report } = await statusJson(dir.path);
  assert.equal(code, 3);
  assert.equal(report.running, false);
  assert.equal(report.state, "stopped");
  for (const [name, platform] of platformsOf(report)) {
    assert.equal(platform.connected, false, `${name} is not connected`);
    assert.equal(platform.state, "stopped", name);
    const stoppedAt = Date.parse(String(platform.stopped_at));
    assert.ok(stoppedAt >= Date.parse(report.started_at) && stoppedAt <= Date.now(), name);
  }
  const human = await hermes(dir.path, ["gateway", "status"]);
  assert.match(human.stdout, /^ {2}local: stopped at \d{4}-\d\d-\d\dT/m);

  const again = await hermes(dir.path, ["gateway", "stop"]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /No gateway is running/);
});

Deno.test("signals: SIGTERM without a marker exits 75, SIGUSR1 drains then exits 75, SIGINT exits 0", async (t) => {
  const cases: [Deno.Signal, number, string][] = [
    ["SIGTERM", 75, "terminated"],
    ["SIGUSR1", 75, "graceful restart"],
    ["SIGINT", 0, "interrupted"],
  ];
  for (const [signal, expected, reason] of cases) {
    await t.step(`${signal} → ${expected}`, async () => {
      await using dir = tempDir();
      await using gateway = await startGateway(dir.path);
      Deno.kill(gateway.pid, signal);
      assert.equal(await gateway.exited, expected, gateway.stderr());
      const state = readRuntimeStatus(hermesPaths(dir.path).runtimeStatus);
      assert.equal(state?.gateway_state, "stopped");
      assert.equal(state?.exit_code, expected);
      assert.ok(state?.exit_reason?.includes(reason), state?.exit_reason ?? "no reason");
      const log = gateway.stderr();
      assert.ok(log.indexOf('"draining"') >= 0, "it drained");
      assert.ok(log.indexOf('"draining"') < log.indexOf('"gateway stopped"'), "before stopping");
    });
  }
});

Deno.test("kill -9: status reports not running and removes the stale record; the next run starts", async () => {
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  const first = await startGateway(dir.path);
  first.child.kill("SIGKILL");
  await first.exited;

  const { code, report } = await statusJson(dir.path);
  assert.equal(code, 3);
  assert.equal(report.running, false);
  assert.equal(report.stale_record_removed, first.pid);
  assert.match(report.exit_reason, /gone without a clean exit/);
  await assert.rejects(Deno.stat(paths.pidFile), Deno.errors.NotFound);
  const lastWrite = readRuntimeStatus(paths.runtimeStatus)?.updated_at;
  for (const [name, platform] of platformsOf(report)) {
    assert.equal(platform.connected, false, `${name} is not connected`);
    assert.equal(platform.state, "stopped", name);
    assert.equal(platform.stopped_at, null, "no stop time is made up");
    assert.equal(platform.last_seen_at, lastWrite);
  }

  await using next = await startGateway(dir.path);
  assert.equal((await statusJson(dir.path)).report.pid, next.pid);
});

Deno.test("a gateway.pid naming a live process that is no gateway: not running, and stop leaves it alone", async () => {
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
  try {
    const identity = readIdentity(sleeper.pid);
    await Deno.writeTextFile(
      paths.pidFile,
      JSON.stringify({
        pid: sleeper.pid,
        kind: "hermes-gateway",
        argv: ["hermes", "gateway", "run"],
        start_time: identity?.startTime,
        hermes_home: dir.path,
      }),
    );
    const { code, report } = await statusJson(dir.path);
    assert.equal(code, 3);
    assert.equal(report.running, false);

    await Deno.writeTextFile(paths.pidFile, String(sleeper.pid));
    const stop = await hermes(dir.path, ["gateway", "stop"]);
    assert.equal(stop.code, 0);
    assert.match(stop.stdout, /No gateway is running/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(readIdentity(sleeper.pid), "sleep 60 was not signalled");
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
});

Deno.test("a takeover marker for another PID or too old does not make SIGTERM a planned stop, and is removed", async (t) => {
  for (
    const [name, marker] of [
      ["another PID", { pid: 1, startTime: null, at: new Date() }],
      ["older than 60 s", { pid: 0, startTime: null, at: new Date(Date.now() - 61_000) }],
      ["another start time", { pid: 0, startTime: 1, at: new Date() }],
    ] as const
  ) {
    await t.step(name, async () => {
      await using dir = tempDir();
      const paths = hermesPaths(dir.path);
      await using gateway = await startGateway(dir.path);
      const pid = marker.pid || gateway.pid;
      await writeTakeoverMarker(
        paths.takeoverMarker,
        { pid, startTime: marker.startTime, home: dir.path },
        marker.at,
      );
      Deno.kill(gateway.pid, "SIGTERM");
      assert.equal(await gateway.exited, 75);
      await assert.rejects(Deno.stat(paths.takeoverMarker), Deno.errors.NotFound);
    });
  }
});

Deno.test("run --replace: the old gateway exits 0, the new one runs, no marker remains, never two lock holders", async () => {
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  await using old = await startGateway(dir.path);
  await using replacement = startHermes(dir.path, ["gateway", "run", "--replace"]);

  const holders = new Set<number>();
  let samples = 0;
  let running = false;
  const watchingReplacement = waitRunning(dir.path, replacement.pid).then(() => running = true);
  while (!running || samples < 20) {
    const lock = lockState(paths.lockFile);
    samples++;
    if (lock.held && lock.pid !== undefined) {
      holders.add(lock.pid);
      if (lock.pid === replacement.pid) {
        assert.equal(
          readIdentity(old.pid),
          undefined,
          "the old gateway is gone when the new one holds the lock",
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await watchingReplacement;
  assert.ok(samples >= 20);
  assert.deepEqual([...holders].filter((pid) => pid !== old.pid && pid !== replacement.pid), []);
  assert.ok(holders.has(replacement.pid));

  assert.equal(await old.exited, 0, old.stderr());
  const { report } = await statusJson(dir.path);
  assert.equal(report.pid, replacement.pid);
  assert.equal(report.state, "running");
  await assert.rejects(Deno.stat(paths.takeoverMarker), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(paths.plannedStopMarker), Deno.errors.NotFound);
  const ledger = await Deno.readTextFile(paths.startsLog);
  assert.match(
    ledger,
    new RegExp(`"pid":${replacement.pid},"kind":"replace","dead_window_ms":\\d+`),
  );
});

Deno.test("a configuration error at start exits 78 and records startup_failed", async () => {
  await using dir = tempDir();
  await Deno.writeTextFile(`${dir.path}/config.yaml`, "gateway:\n  drain_timeout: soon\n");
  const run = await hermes(dir.path, ["gateway", "run"]);
  assert.equal(run.code, 78, run.stderr);
  assert.match(run.stderr, /gateway\.drain_timeout/);
  const state = readRuntimeStatus(hermesPaths(dir.path).runtimeStatus);
  assert.equal(state?.gateway_state, "startup_failed");
  assert.equal(state?.exit_code, 78);
  const { report } = await statusJson(dir.path);
  assert.equal(report.state, "startup_failed");
});

Deno.test("a platform that cannot listen (its port is taken) fails the start: exit 78, startup_failed", async () => {
  await using dir = tempDir();
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = taken.addr.port;
  await using gateway = startHermes(dir.path, ["gateway", "run"], { LOCAL_PORT: String(port) });
  const code = await raceTimeout(gateway.exited, 5_000);
  assert.notEqual(code, TIMED_OUT, `still running after 5 s: ${gateway.stderr()}`);
  assert.equal(code, 78, gateway.stderr());
  assert.match(
    gateway.stderr(),
    new RegExp(`^hermes: Cannot listen on 127\\.0\\.0\\.1:${port}: `, "m"),
  );
  const state = readRuntimeStatus(hermesPaths(dir.path).runtimeStatus);
  assert.equal(state?.gateway_state, "startup_failed");
  assert.equal(state?.exit_code, 78);
  assert.match(state?.exit_reason ?? "", new RegExp(`^Cannot listen on 127\\.0\\.0\\.1:${port}: `));
  assert.ok(
    gateway.stderr().includes(`hermes: ${state?.exit_reason}\n`),
    "the one-line message is the recorded reason",
  );
  assert.equal(lockState(hermesPaths(dir.path).lockFile).held, false);
});

Deno.test("a port taken by the gateway of another home names that home and PID; the other keeps serving", async () => {
  await using first = tempDir();
  await using second = tempDir();
  await using serving = await startGateway(first.path);
  const url = (readRuntimeStatus(hermesPaths(first.path).runtimeStatus)?.platforms?.local as {
    details: { url: string };
  }).details.url;
  const port = new URL(url).port;
  await using refused = startHermes(second.path, ["gateway", "run"], { LOCAL_PORT: port });
  assert.equal(await refused.exited, 78, refused.stderr());
  assert.match(
    refused.stderr(),
    new RegExp(
      `^hermes: Cannot listen on 127\\.0\\.0\\.1:${port}: the port is taken by the hermes gateway of ${first.path} \\(PID ${serving.pid}\\); set local.port`,
      "m",
    ),
  );
  assert.equal((await fetch(`${url}healthz`).then((r) => r.json())).pid, serving.pid);
});

Deno.test("run --replace with a broken configuration leaves the running gateway serving", async () => {
  await using dir = tempDir();
  await using gateway = await startGateway(dir.path);
  await Deno.writeTextFile(`${dir.path}/config.yaml`, "gateway:\n  drain_timeout: -1\n");
  const replace = await hermes(dir.path, ["gateway", "run", "--replace"]);
  assert.equal(replace.code, 78);
  const { report } = await statusJson(dir.path);
  assert.equal(report.pid, gateway.pid);
  assert.equal(report.state, "running");
});

Deno.test("restart without a supervisor: this command takes over and the old gateway exits 0", async () => {
  await using dir = tempDir();
  await using old = await startGateway(dir.path);
  await using restart = startHermes(dir.path, ["gateway", "restart"]);
  await waitRunning(dir.path, restart.pid);
  assert.equal(await old.exited, 0);
  assert.equal((await statusJson(dir.path)).report.pid, restart.pid);
});

Deno.test("restart under a supervisor: drain, exit 75, and the supervisor's new gateway is reported", async () => {
  await using dir = tempDir();
  const env = { HERMES_SUPERVISOR: "test-supervisor" };
  const first = await startGateway(dir.path, env);
  // The supervisor: start the gateway again when it exits 75.
  const revived = first.exited.then((code) => {
    assert.equal(code, 75);
    return startGateway(dir.path, env);
  });
  try {
    const restart = await hermes(dir.path, ["gateway", "restart"]);
    const second = await revived;
    assert.equal(restart.code, 0, restart.stderr);
    assert.equal(restart.stdout.trim(), `Gateway restarted (PID ${first.pid} → ${second.pid})`);
    assert.equal(
      readRuntimeStatus(hermesPaths(dir.path).runtimeStatus)?.supervisor,
      "test-supervisor",
    );
  } finally {
    await (await revived.catch(() => undefined))?.[Symbol.asyncDispose]();
  }
});

Deno.test("a respawn storm makes the next start wait, says so, and a stop ends the wait", async () => {
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  const now = Date.now();
  const crashes = Array.from(
    { length: 6 },
    (_, i) =>
      JSON.stringify({
        at: new Date(now - 10_000 + i * 1000).toISOString(),
        pid: 100 + i,
        kind: "unplanned",
      }),
  );
  await Deno.writeTextFile(paths.startsLog, `${crashes.join("\n")}\n`);
  await using gateway = startHermes(dir.path);
  await waitFor("the storm warning", () => gateway.stderr().includes("respawn storm"));
  assert.match(gateway.stderr(), /waiting 10 s before starting/);
  assert.equal(readRuntimeStatus(paths.runtimeStatus)?.gateway_state, "starting");
  const stop = await hermes(dir.path, ["gateway", "stop"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(await gateway.exited, 0);
});

Deno.test("gateway install --dry-run prints a unit with the exit-code restart rules and writes nothing", async () => {
  await using dir = tempDir();
  const result = await runHermes(["gateway", "install", "--dry-run"], {
    home: dir.path,
    env: { XDG_CONFIG_HOME: `${dir.path}/config` },
  });
  assert.equal(result.code, 0, result.stderr);
  for (
    const line of [
      "Restart=always",
      "RestartForceExitStatus=75",
      "SuccessExitStatus=75",
      "RestartPreventExitStatus=78",
      "ExecReload=/bin/kill -USR1 $MAINPID",
      "KillSignal=SIGINT",
      "TimeoutStopSec=250",
      `Environment=HERMES_HOME=${dir.path}`,
    ]
  ) {
    assert.ok(result.stdout.includes(line), `has ${line}`);
  }
  assert.match(
    result.stdout,
    /ExecStart=\S+ run --no-prompt --allow-all --v8-flags=--optimize-for-size \S+cli\/main\.ts gateway run/,
  );
  await assert.rejects(Deno.stat(`${dir.path}/config`), Deno.errors.NotFound);
});

Deno.test("gateway install writes the unit and prints how to enable it; uninstall removes it", async () => {
  await using dir = tempDir();
  const env = { XDG_CONFIG_HOME: `${dir.path}/config` };
  const install = await runHermes(["gateway", "install"], { home: dir.path, env });
  assert.equal(install.code, 0, install.stderr);
  const unit = install.stdout.match(/Wrote (\S+)/)?.[1] ?? "";
  assert.match(unit, /\/config\/systemd\/user\/hermes-gateway-[0-9a-f]{8}\.service$/);
  assert.match(await Deno.readTextFile(unit), /RestartPreventExitStatus=78/);
  assert.match(install.stdout, /systemctl --user enable --now hermes-gateway-[0-9a-f]{8}\.service/);

  const uninstall = await runHermes(["gateway", "uninstall"], { home: dir.path, env });
  assert.equal(uninstall.code, 0, uninstall.stderr);
  await assert.rejects(Deno.stat(unit), Deno.errors.NotFound);
});

Deno.test("a crash exits 1 and leaves neither a PID record nor a held lock", async () => {
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  await Deno.mkdir(paths.runtimeStatus); // the status file cannot be written: the start fails
  const run = await hermes(dir.path, ["gateway", "run"]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /unexpected error/);
  await assert.rejects(Deno.stat(paths.pidFile), Deno.errors.NotFound);
  assert.equal(lockState(paths.lockFile).held, false);
});
