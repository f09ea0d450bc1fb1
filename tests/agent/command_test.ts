import assert from "node:assert/strict";
import { AgentError, type AgentTurn } from "../../lib/agent/agent.ts";
import {
  CommandAgent,
  type CommandAgentOptions,
  MAX_LINE_CHARS,
  STDERR_TAIL_CHARS,
} from "../../lib/agent/command.ts";
import { processGone } from "../_helpers.ts";

const source = { platform: "local", chatType: "dm" as const, chatId: "alice", userId: "alice" };

function turn(text: string, signal = new AbortController().signal): AgentTurn {
  return {
    sessionKey: "agent:main:local:dm:alice",
    source,
    history: [{ role: "user", content: text }],
    signal,
  };
}

function agentRunning(script: string, timeoutMs = 5_000): CommandAgent {
  return new CommandAgent({
    argv: [Deno.execPath(), "eval", script],
    timeoutMs,
    environment: Deno.env.toObject(),
  });
}

/** A shell program; `script` runs with `sh -c`. */
function shellAgent(script: string, options: Partial<CommandAgentOptions> = {}): CommandAgent {
  return new CommandAgent({
    argv: ["/bin/sh", "-c", script],
    timeoutMs: 10_000,
    environment: Deno.env.toObject(),
    ...options,
  });
}

async function collect(agent: CommandAgent, text: string, signal = new AbortController().signal) {
  let out = "";
  for await (const delta of agent.run(turn(text, signal))) out += delta;
  return out;
}

const READ_TURN = `
  const line = (await new Response(Deno.stdin.readable).text()).trim();
  const turn = JSON.parse(line);
  const enc = new TextEncoder();
  const say = (o) => Deno.stdout.writeSync(enc.encode(JSON.stringify(o) + "\\n"));
`;

/**
 * Ignores SIGTERM (the ignore is inherited by its child), starts a child that
 * sleeps, says "PID CHILD_PID" as a delta and waits.
 */
const IGNORES_SIGTERM = `trap "" TERM; sleep 600 & echo "{\\"delta\\":\\"$$ $!\\"}"; wait`;

/** Says its pid as a delta, then sleeps under that pid. */
const SAYS_PID_AND_SLEEPS = `echo "{\\"delta\\":\\"$$\\"}"; exec sleep 600`;

interface ProcessStat {
  readonly state: string;
  readonly pgrp: number;
  readonly session: number;
}

/** Fields of /proc/PID/stat, or undefined when there is no such process. */
function stat(pid: number | "self"): ProcessStat | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  // The command name may hold spaces and parentheses; the fields follow the last ")".
  const [state, _ppid, pgrp, session] = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: state!, pgrp: Number(pgrp), session: Number(session) };
}

async function waitUntil(what: string, check: () => boolean, deadlineMs = 10_000) {
  const deadline = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`Gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function within<T>(what: string, promise: Promise<T>, deadlineMs = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Gave up waiting for ${what}`)), deadlineMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function pids(delta: string): number[] {
  return delta.split(" ").map(Number);
}

Deno.test("the command agent sends the turn as one JSON line and streams delta lines", async () => {
  const agent = agentRunning(`${READ_TURN}
    say({ delta: "you said: " });
    say({ delta: turn.history.at(-1).content + " (" + turn.user_id + ", " + turn.session + ")" });`);
  assert.equal(
    await collect(agent, "hi there"),
    "you said: hi there (alice, agent:main:local:dm:alice)",
  );
});

Deno.test("a command that exits non-zero fails the turn with its last stderr line", async () => {
  const agent = agentRunning(`${READ_TURN} console.error("model file missing"); Deno.exit(3);`);
  await assert.rejects(
    collect(agent, "x"),
    (e: unknown) =>
      e instanceof AgentError &&
      e.message === "the agent program exited with code 3" && e.detail === "model file missing",
  );
});

Deno.test("a program that floods stderr fails with its last line; only a bounded tail is kept", async () => {
  // 16 MiB on stderr, the last line after it: the agent reads it all but keeps STDERR_TAIL_CHARS.
  const agent = shellAgent(
    `head -c 16777216 /dev/zero | tr '\\0' x >&2; printf '\\nout of memory\\n' >&2; exit 3`,
  );
  await assert.rejects(
    collect(agent, "x"),
    (e: unknown) =>
      e instanceof AgentError &&
      e.message === "the agent program exited with code 3" && e.detail === "out of memory",
  );
  assert.equal(STDERR_TAIL_CHARS, 4096);
});

Deno.test("a stdout line over the limit fails the turn instead of being held whole", async () => {
  const agent = shellAgent(
    `head -c ${MAX_LINE_CHARS + 1} /dev/zero | tr '\\0' x; exec sleep 600`,
  );
  await assert.rejects(
    collect(agent, "x"),
    (e: unknown) =>
      e instanceof AgentError &&
      e.message ===
        `the agent program wrote a line over ${MAX_LINE_CHARS} characters: end each JSON line with a newline`,
  );
});

Deno.test("an error line fails the turn with the program's message", async () => {
  const agent = agentRunning(
    `${READ_TURN} say({ delta: "partial" }); say({ error: "quota used up" });`,
  );
  await assert.rejects(collect(agent, "x"), /quota used up/);
});

Deno.test("a line that is not JSON fails the turn and names it", async () => {
  const agent = agentRunning(`${READ_TURN} console.log("plain text");`);
  await assert.rejects(
    collect(agent, "x"),
    (e: unknown) =>
      e instanceof AgentError && /not JSON$/.test(e.message) && e.detail === "plain text",
  );
});

Deno.test("a silent program is stopped after the timeout", async () => {
  const agent = agentRunning(`${READ_TURN} await new Promise((r) => setTimeout(r, 10_000));`, 300);
  await assert.rejects(collect(agent, "x"), /sent nothing for 0.3 s/);
});

Deno.test("stopping the turn ends the program", async () => {
  const agent = agentRunning(
    `${READ_TURN} say({ delta: "a" }); await new Promise((r) => setTimeout(r, 10_000));`,
  );
  const controller = new AbortController();
  let out = "";
  for await (const delta of agent.run(turn("x", controller.signal))) {
    out += delta;
    controller.abort("stopped");
  }
  assert.equal(out, "a");
});

Deno.test("the program gets only the basic variables and the agent.env names, no secrets", async () => {
  const basic = {
    PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? Deno.cwd(),
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
    LC_TIME: "en_GB.UTF-8",
    TZ: "Europe/Berlin",
    TMPDIR: "/tmp",
  };
  const agent = new CommandAgent({
    argv: [
      Deno.execPath(),
      "eval",
      `${READ_TURN} say({ delta: JSON.stringify(Deno.env.toObject()) });`,
    ],
    timeoutMs: 10_000,
    environment: {
      ...basic,
      OPENAI_API_KEY: "sk-secret",
      LOCAL_API_KEY: "local-secret",
      TELEGRAM_BOT_TOKEN: "123456:secret",
      HERMES_HOME: "/home/alice/.hermes",
      MY_SETTING: "42",
      UNSET_SETTING: undefined,
    },
    passEnv: ["MY_SETTING", "UNSET_SETTING"],
  });
  assert.deepEqual(JSON.parse(await collect(agent, "x")), { ...basic, MY_SETTING: "42" });
});

Deno.test("the program runs in a process group and session of its own", async () => {
  const agent = shellAgent(SAYS_PID_AND_SLEEPS);
  const controller = new AbortController();
  const own = stat("self")!;
  for await (const delta of agent.run(turn("x", controller.signal))) {
    const [pid] = pids(delta);
    const program = stat(pid!)!;
    assert.equal(program.pgrp, pid);
    assert.equal(program.session, pid);
    assert.notEqual(program.pgrp, own.pgrp);
    controller.abort("stopped");
  }
});

Deno.test("a Ctrl-C to the gateway's process group does not reach the program", async () => {
  // The gateway runs in a group of its own, as a terminal's foreground job would.
  const gatewayScript = `
    import { CommandAgent } from "${new URL("../../lib/agent/command.ts", import.meta.url)}";
    const agent = new CommandAgent({
      argv: ["/bin/sh", "-c", Deno.args[0]],
      timeoutMs: 60_000,
      environment: Deno.env.toObject(),
    });
    const turn = {
      sessionKey: "k",
      source: { platform: "local", chatType: "dm", chatId: "alice" },
      history: [{ role: "user", content: "x" }],
      signal: new AbortController().signal,
    };
    for await (const delta of agent.run(turn)) console.log(delta);
  `;
  const gateway = new Deno.Command(Deno.execPath(), {
    args: ["eval", gatewayScript, SAYS_PID_AND_SLEEPS],
    stdout: "piped",
    stderr: "null",
    detached: true,
  }).spawn();
  const stdout = gateway.stdout.getReader();
  let programPid: number | undefined;
  try {
    const { value } = await within("the program's pid", stdout.read());
    programPid = Number(new TextDecoder().decode(value).trim());
    assert.ok(programPid > 0);
    Deno.kill(-gateway.pid, "SIGINT");
    const status = await gateway.status;
    assert.equal(status.signal, "SIGINT");
    assert.ok(!processGone(programPid), "the program is still running");
    assert.notEqual(stat(programPid)!.pgrp, gateway.pid);
  } finally {
    if (!programPid) gateway.kill("SIGKILL");
    await gateway.status;
    await stdout.cancel();
    if (programPid) {
      Deno.kill(-programPid, "SIGKILL");
      await waitUntil("the orphaned program to be gone", () => processGone(programPid!));
    }
  }
});

Deno.test("stopping the turn kills a program that ignores SIGTERM and its child after the grace", async () => {
  const agent = shellAgent(IGNORES_SIGTERM, { killGraceMs: 300 });
  const controller = new AbortController();
  const seen: number[] = [];
  const run = (async () => {
    for await (const delta of agent.run(turn("x", controller.signal))) {
      seen.push(...pids(delta));
      controller.abort("stopped");
    }
  })();
  await within("the stopped turn to end", run);
  assert.equal(seen.length, 2);
  for (const pid of seen) await waitUntil(`process ${pid} to be gone`, () => processGone(pid));
});

Deno.test("the timeout kills a program that ignores SIGTERM after the grace", async () => {
  const agent = shellAgent(IGNORES_SIGTERM, { timeoutMs: 300, killGraceMs: 300 });
  const seen: number[] = [];
  const run = (async () => {
    for await (const delta of agent.run(turn("x"))) seen.push(...pids(delta));
  })();
  await within("the timed-out turn to end", assert.rejects(run, /sent nothing for 0.3 s/));
  assert.equal(seen.length, 2);
  for (const pid of seen) await waitUntil(`process ${pid} to be gone`, () => processGone(pid));
});

Deno.test("a reader that stops early has a program that ignores SIGTERM killed", async () => {
  const agent = shellAgent(IGNORES_SIGTERM, { killGraceMs: 300 });
  const seen: number[] = [];
  const run = (async () => {
    for await (const delta of agent.run(turn("x"))) {
      seen.push(...pids(delta));
      break;
    }
  })();
  await within("the closed reply to end", run);
  assert.equal(seen.length, 2);
  for (const pid of seen) await waitUntil(`process ${pid} to be gone`, () => processGone(pid));
});

Deno.test("a program that is not JSON and ignores SIGTERM is killed after the grace", async () => {
  const agent = shellAgent(`trap "" TERM; echo "plain text"; sleep 600 & wait`, {
    killGraceMs: 300,
  });
  await within("the failed turn to end", assert.rejects(collect(agent, "x"), /not JSON/));
});

Deno.test("what is left in the program's group when it exits is killed", async () => {
  const agent = shellAgent(`sleep 600 & echo "{\\"delta\\":\\"$$ $!\\"}"`);
  const seen = pids(await within("the turn to end", collect(agent, "x")));
  assert.equal(seen.length, 2);
  for (const pid of seen) await waitUntil(`process ${pid} to be gone`, () => processGone(pid));
});
