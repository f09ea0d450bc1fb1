import assert from "node:assert/strict";
import { AgentError } from "../../lib/agent/agent.ts";
import { CommandAgent } from "../../lib/agent/command.ts";

const source = { platform: "local", chatType: "dm" as const, chatId: "alice", userId: "alice" };

function agentRunning(script: string, timeoutMs = 5_000): CommandAgent {
  return new CommandAgent({ argv: [Deno.execPath(), "eval", script], timeoutMs });
}

async function collect(agent: CommandAgent, text: string, signal = new AbortController().signal) {
  let out = "";
  for await (
    const delta of agent.run({
      sessionKey: "agent:main:local:dm:alice",
      source,
      history: [{ role: "user", content: text }],
      signal,
    })
  ) out += delta;
  return out;
}

const READ_TURN = `
  const line = (await new Response(Deno.stdin.readable).text()).trim();
  const turn = JSON.parse(line);
  const enc = new TextEncoder();
  const say = (o) => Deno.stdout.writeSync(enc.encode(JSON.stringify(o) + "\\n"));
`;

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
      e.message === "the agent program exited with code 3: model file missing",
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
  await assert.rejects(collect(agent, "x"), /not JSON: plain text/);
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
  for await (
    const delta of agent.run({
      sessionKey: "k",
      source,
      history: [{ role: "user", content: "x" }],
      signal: controller.signal,
    })
  ) {
    out += delta;
    controller.abort("stopped");
  }
  assert.equal(out, "a");
});
