import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { readRuntimeStatus } from "../../lib/process/runtime_status.ts";
import { processGone, tempDir } from "../_helpers.ts";
import { startHermes, waitFor } from "../gateway/_gateway.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";

/**
 * The agent program, run as `deno run -A agent.js MODE` in the temporary
 * home. Modes: `env` replies with the names of its environment variables;
 * `stop` writes its pid to `pid`, ignores SIGTERM (noting it in `sigterm`)
 * and sleeps when the last message is "sleep", else replies "you said TEXT";
 * `slow` replies with `part0 ` ... `part7 `, 200 ms apart.
 */
const AGENT_PROGRAM = `
const [mode] = Deno.args;
const here = new URL(".", import.meta.url).pathname;
const turn = JSON.parse((await new Response(Deno.stdin.readable).text()).trim());
const last = turn.history.at(-1).content;
const say = (line) => console.log(JSON.stringify(line));
const note = (name, text) => {
  Deno.writeTextFileSync(here + name + ".tmp", text);
  Deno.renameSync(here + name + ".tmp", here + name);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
if (mode === "env") {
  say({ delta: Object.keys(Deno.env.toObject()).sort().join(" ") });
} else if (mode === "stop") {
  if (last === "sleep") {
    Deno.addSignalListener("SIGTERM", () => note("sigterm", "ignored"));
    note("pid", String(Deno.pid));
    await sleep(600_000);
  }
  say({ delta: "you said " + last });
} else if (mode === "slow") {
  note("pid", String(Deno.pid));
  for (let i = 0; i < 8; i++) {
    await sleep(200);
    say({ delta: "part" + i + " " });
  }
}
`;

const SLOW_REPLY = Array.from({ length: 8 }, (_, i) => `part${i}`).join(" ");

/** Writes the program and a config.yaml running it in `mode` into `home`. */
function configureAgent(home: string, mode: string, extra = ""): void {
  Deno.writeTextFileSync(`${home}/agent.js`, AGENT_PROGRAM);
  const argv = [Deno.execPath(), "run", "-A", `${home}/agent.js`, mode];
  Deno.writeTextFileSync(
    `${home}/config.yaml`,
    `agent:\n  provider: command\n  command: ${
      JSON.stringify(argv)
    }\n  kill_grace_seconds: 1\n${extra}`,
  );
}

async function readPid(path: string): Promise<number> {
  let pid = 0;
  await waitFor(`the program to write ${path}`, () => {
    try {
      pid = Number(Deno.readTextFileSync(path));
    } catch {
      return false;
    }
    return pid > 0;
  });
  return pid;
}

Deno.test("a command agent's program sees PATH, HOME and the agent.env names, none of the gateway's secrets or other variables", async () => {
  await using home = tempDir();
  configureAgent(home.path, "env", "  env: [MY_SETTING]\n");
  await using local = await startLocalGateway(home.path, {
    OPENAI_API_KEY: "sk-openai-secret",
    LOCAL_API_KEY: "local-secret-key",
    DISCORD_BOT_TOKEN: "discord-secret-token",
    MY_SETTING: "passed on",
    NOT_LISTED: "stays out",
  });

  const response = await fetch(new URL("v1/chat/completions", local.url), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: "Bearer local-secret-key",
    },
    body: JSON.stringify({ model: "hermes", messages: [{ role: "user", content: "env?" }] }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  const names = (body.choices[0].message.content as string).split(" ");

  assert.ok(names.includes("MY_SETTING"), names.join(" "));
  assert.ok(names.includes("PATH"), names.join(" "));
  assert.ok(names.includes("HOME"), names.join(" "));
  for (const secret of ["OPENAI_API_KEY", "LOCAL_API_KEY", "DISCORD_BOT_TOKEN"]) {
    assert.ok(!names.includes(secret), `${secret} reached the program: ${names.join(" ")}`);
  }
  const allowed = new Set(["PATH", "HOME", "LANG", "TZ", "TMPDIR", "MY_SETTING"]);
  const others = names.filter((name) => !allowed.has(name) && !name.startsWith("LC_"));
  assert.deepEqual(others, [], "only the listed variables reach the program");
});

Deno.test("/stop ends a program that ignores SIGTERM within the grace period, and the session answers again", async () => {
  await using home = tempDir();
  configureAgent(home.path, "stop");
  await using local = await startLocalGateway(home.path);
  await using chat = new ChatClient(local.url, "alice");
  await chat.ready();

  chat.say("m1", "sleep");
  const accepted = await chat.until("m1 accepted", (f) => f.type === "accepted" && f.id === "m1");
  const pid = await readPid(`${home.path}/pid`);
  assert.equal(processGone(pid), false, "the program runs");

  assert.equal(await chat.ask("s1", "/stop"), "Stopped.");
  // kill_grace_seconds is 1: SIGTERM is ignored, SIGKILL follows after the grace.
  await waitFor(`program ${pid} to be gone`, () => processGone(pid), 1_000 + 4_000);
  assert.equal(
    Deno.readTextFileSync(`${home.path}/sigterm`),
    "ignored",
    "the program got SIGTERM first and outlived it",
  );
  await chat.until(
    "the stopped message to settle",
    (f) => f.type === "settled" && f.reply_to === accepted.message_id,
  );

  assert.equal(await chat.ask("m2", "hello"), "you said hello");
  assert.equal(processGone(pid), true);
});

Deno.test("a Ctrl-C to the gateway's process group does not reach the program: the reply arrives whole and the gateway exits 0", async () => {
  await using home = tempDir();
  configureAgent(home.path, "slow");
  await using gateway = startHermes(home.path, ["gateway", "run"], {}, { ownGroup: true });
  let url = "";
  await Promise.race([
    waitFor("the gateway's local URL", () => {
      const status = readRuntimeStatus(hermesPaths(home.path).runtimeStatus);
      const local = status?.platforms?.local as { details?: { url?: string } } | undefined;
      url = status?.gateway_state === "running" ? local?.details?.url ?? "" : "";
      return url !== "";
    }, 60_000),
    gateway.exited.then((code) => {
      throw new Error(`the gateway exited ${code}: ${gateway.stderr()}`);
    }),
  ]);

  await using chat = new ChatClient(url, "bob");
  await chat.ready();
  chat.say("m1", "tell me slowly");
  const accepted = await chat.until("m1 accepted", (f) => f.type === "accepted" && f.id === "m1");
  const replyTo = accepted.message_id;
  await chat.until("a first part", (f) => f.type === "message" && f.reply_to === replyTo);
  const pid = await readPid(`${home.path}/pid`);

  Deno.kill(-gateway.pid, "SIGINT"); // the whole group, as the terminal does on Ctrl-C

  const final = await chat.until(
    "the final reply",
    (f) => f.type === "message" && f.reply_to === replyTo && f.final === true,
  );
  assert.equal(final.text, SLOW_REPLY, gateway.stderr());
  assert.equal(await gateway.exited, 0, gateway.stderr());
  assert.equal(processGone(pid), true, "the program finished its turn and exited");
});
