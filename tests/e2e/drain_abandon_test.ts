import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { processGone, runHermes, tempDir } from "../_helpers.ts";
import { testEnv, waitFor } from "../gateway/_gateway.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { startLocalGateway } from "./_local.ts";
import { readChatChunks } from "./_sse.ts";

const UNFINISHED = /stopped before the reply was finished/;

/** A command agent's program that writes its pid to `pid`, ignores SIGTERM (noting it in `sigterm`) and sleeps. */
const STUBBORN_PROGRAM = `
const here = new URL(".", import.meta.url).pathname;
const note = (name, text) => {
  Deno.writeTextFileSync(here + name + ".tmp", text);
  Deno.renameSync(here + name + ".tmp", here + name);
};
await new Response(Deno.stdin.readable).text();
Deno.addSignalListener("SIGTERM", () => note("sigterm", "ignored"));
note("pid", String(Deno.pid));
await new Promise((resolve) => setTimeout(resolve, 600_000));
`;

function postCompletion(url: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(new URL("v1/chat/completions", url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "hermes", ...body }),
  });
}

/** Journal states by session key, read straight from state.db. */
function journalStates(home: string): Record<string, string[]> {
  using db = new DatabaseSync(`${home}/state.db`, { readOnly: true });
  const rows = db.prepare("SELECT session_key, state FROM inbound_journal ORDER BY id").all() as {
    session_key: string;
    state: string;
  }[];
  const states: Record<string, string[]> = {};
  for (const row of rows) (states[row.session_key] ??= []).push(row.state);
  return states;
}

async function stopGateway(home: string): Promise<void> {
  const stopped = await runHermes(["gateway", "stop"], { home, env: testEnv(home) });
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /Gateway stopped/);
}

Deno.test("a drain that runs out of time fails the unfinished replies (503, an error event without [DONE]) and keeps their messages for the next gateway", async () => {
  const slow = Array.from({ length: 6 }, (_, i) => `slow${i} `);
  await using provider = startFakeOpenAI({ tokens: () => slow, tokenDelayMs: 1_500 });
  await using home = tempDir();
  const env = {
    HERMES_MODEL: "fake",
    OPENAI_BASE_URL: provider.baseUrl,
    OPENAI_API_KEY: "sk-fake",
    GATEWAY_DRAIN_TIMEOUT: "1",
  };
  {
    await using first = await startLocalGateway(home.path, env);
    const whole = postCompletion(first.url, {
      messages: [{ role: "user", content: "answer me whole" }],
      user: "whole",
    });
    const response = await postCompletion(first.url, {
      messages: [{ role: "user", content: "answer me streamed" }],
      stream: true,
      user: "streamed",
    });
    assert.equal(response.status, 200);
    const firstToken = Promise.withResolvers<void>();
    const streamed = readChatChunks(response, () => firstToken.resolve());
    await firstToken.promise;
    await waitFor("both turns to reach the provider", () => provider.requests.length === 2);

    await stopGateway(home.path);

    const cut = await streamed;
    assert.ok(cut.content.length < slow.length, `the reply was cut off: ${cut.content.join("")}`);
    assert.equal(cut.done, false, "no [DONE] after a cut-off reply");
    assert.deepEqual(cut.finishReasons, [], "no chunk says the reply finished");
    assert.equal(cut.errors.length, 1, JSON.stringify(cut.errors));
    assert.match(cut.errors[0]!.message, UNFINISHED);

    const wholeResponse = await whole;
    const body = await wholeResponse.json();
    assert.equal(wholeResponse.status, 503, JSON.stringify(body));
    assert.equal(body.error.type, "server_error");
    assert.match(body.error.message, UNFINISHED);
    assert.equal(body.choices, undefined);

    assert.equal(await first.gateway.exited, 0, first.gateway.stderr());
  }
  assert.deepEqual(journalStates(home.path), {
    "agent:main:local:dm:whole": ["interrupted"],
    "agent:main:local:dm:streamed": ["interrupted"],
  });

  provider.behaviour = {}; // fast now: the reply is the question's words
  await using second = await startLocalGateway(home.path, env);
  assert.deepEqual(journalStates(home.path), {
    "agent:main:local:dm:whole": ["interrupted"],
    "agent:main:local:dm:streamed": ["interrupted"],
  }, "the new gateway keeps them for the sessions' next messages");
  const shown = await runHermes(["sessions", "show", "agent:main:local:dm:whole", "--json"], {
    home: home.path,
    env: testEnv(home.path),
  });
  assert.equal(shown.code, 0, shown.stderr);
  const stored = JSON.parse(shown.stdout).messages as { role: string; text: string }[];
  assert.deepEqual(stored.map((m) => [m.role, m.text]), [["user", "answer me whole"]]);

  const next = await postCompletion(second.url, {
    messages: [{ role: "user", content: "and now?" }],
    user: "whole",
  });
  const answer = await next.json();
  assert.equal(next.status, 200, JSON.stringify(answer));
  assert.equal(answer.choices[0].message.content, "and now?");
  const after = await runHermes(["sessions", "show", "agent:main:local:dm:whole", "--json"], {
    home: home.path,
    env: testEnv(home.path),
  });
  const messages = JSON.parse(after.stdout).messages as { role: string; text: string }[];
  assert.deepEqual(messages.map((m) => [m.role, m.text]), [
    ["user", "answer me whole"],
    ["assistant", "answer me whole"],
    ["user", "and now?"],
    ["assistant", "and now?"],
  ], "the cut-off message was answered first");
  assert.deepEqual(journalStates(home.path)["agent:main:local:dm:whole"], ["done", "done"]);
});

Deno.test("a drain that runs out of time kills a command agent's program that ignores SIGTERM before the gateway exits", async () => {
  await using home = tempDir();
  Deno.writeTextFileSync(`${home.path}/agent.js`, STUBBORN_PROGRAM);
  const argv = [Deno.execPath(), "run", "-A", `${home.path}/agent.js`];
  Deno.writeTextFileSync(
    `${home.path}/config.yaml`,
    `agent:\n  provider: command\n  command: ${JSON.stringify(argv)}\n  kill_grace_seconds: 1\n`,
  );
  await using local = await startLocalGateway(home.path, { GATEWAY_DRAIN_TIMEOUT: "1" });
  const reply = postCompletion(local.url, {
    messages: [{ role: "user", content: "take your time" }],
    user: "patient",
  });
  let pid = 0;
  await waitFor("the program to write its pid", () => {
    try {
      pid = Number(Deno.readTextFileSync(`${home.path}/pid`));
    } catch {
      return false;
    }
    return pid > 0;
  });

  await stopGateway(home.path);

  assert.equal(await local.gateway.exited, 0, local.gateway.stderr());
  assert.equal(processGone(pid), true, `program ${pid} outlived the gateway`);
  assert.equal(
    Deno.readTextFileSync(`${home.path}/sigterm`),
    "ignored",
    "the program got SIGTERM first and outlived it",
  );
  const response = await reply;
  const body = await response.json();
  assert.equal(response.status, 503, JSON.stringify(body));
  assert.match(body.error.message, UNFINISHED);
  assert.deepEqual(journalStates(home.path), { "agent:main:local:dm:patient": ["interrupted"] });
});
