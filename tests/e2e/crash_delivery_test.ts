import assert from "node:assert/strict";
import { runHermes, tempDir } from "../_helpers.ts";
import { startGateway, testEnv, waitFor } from "../gateway/_gateway.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";

/**
 * A plugin platform, written against the contract only, that is slow to
 * acknowledge: the first try of every final send never answers (the test
 * then kills the gateway). Every call is written to sends.jsonl.
 */
const SLOW_ACK = `
export const platform = {
  name: "slowack",
  description: "acknowledges late",
  enabled: () => true,
  create(context) {
    const log = context.stateDir + "/sends.jsonl";
    return {
      name: "slowack",
      capabilities: { streaming: "final", maxMessageLength: 4000 },
      async connect() {
        context.health.set("subscribed");
        await context.emit({
          messageId: "q-1",
          source: { platform: "slowack", chatType: "dm", chatId: "u1", userId: "u1" },
          text: "what is the capital of France?",
          receivedAt: new Date().toISOString(),
        });
      },
      async disconnect() {},
      async send(_to, message, ctx) {
        await Deno.writeTextFile(log, JSON.stringify({ text: message.text,
          key: ctx.idempotencyKey, attempt: ctx.attempt }) + "\\n", { append: true });
        if (ctx.attempt === 1) return new Promise(() => {}); // the platform never answers
        return { status: "sent", messageId: "s-" + ctx.attempt };
      },
      health: () => context.health.snapshot(),
    };
  },
};
`;

Deno.test("kill -9 while the platform is slow to acknowledge a final send: it is sent again with the same key, the model is asked once", async () => {
  await using provider = startFakeOpenAI({ tokens: () => ["Paris ", "is the capital."] });
  await using home = tempDir();
  await Deno.mkdir(`${home.path}/plugins`);
  await Deno.writeTextFile(`${home.path}/plugins/slowack.js`, SLOW_ACK);
  await Deno.writeTextFile(
    `${home.path}/config.yaml`,
    "plugins: [plugins/slowack.js]\nplatforms:\n  slowack:\n    allow_from: [u1]\n",
  );
  const env = { HERMES_MODEL: "fake", OPENAI_BASE_URL: provider.baseUrl, OPENAI_API_KEY: "x" };
  const log = `${home.path}/platforms/slowack/sends.jsonl`;
  const sends = async () =>
    (await Deno.readTextFile(log).catch(() => "")).trim().split("\n").filter(Boolean)
      .map((line) => JSON.parse(line) as { text: string; key: string; attempt: number });
  {
    await using first = await startGateway(home.path, env);
    await waitFor("the first try", async () => (await sends()).length === 1);
    first.child.kill("SIGKILL");
    assert.equal(await first.exited, 137);
  }
  await using second = await startGateway(home.path, env);
  await waitFor("the second try", async () => (await sends()).length === 2);
  const [one, two] = await sends();
  assert.deepEqual([one!.key, one!.attempt, two!.key, two!.attempt], [
    two!.key,
    1,
    one!.key,
    2,
  ]);
  assert.equal(two!.text, "Paris is the capital.");
  assert.equal(provider.requests.length, 1, "the model was asked once");
  const shown = await runHermes(
    ["sessions", "show", "agent:main:slowack:dm:u1", "--json"],
    { home: home.path, env: testEnv(home.path) },
  );
  const messages = JSON.parse(shown.stdout).messages as { role: string; text: string }[];
  assert.deepEqual(messages.map((m) => [m.role, m.text]), [
    ["user", "what is the capital of France?"],
    ["assistant", "Paris is the capital."],
  ]);
  void second;
});

Deno.test("kill -9 mid-stream on an edit platform: the answer given again replaces the preview, never mixed with it", async () => {
  const oldWords = Array.from({ length: 20 }, (_, i) => `old${i} `);
  await using provider = startFakeOpenAI({ tokens: () => oldWords, tokenDelayMs: 200 });
  await using home = tempDir();
  const env = { HERMES_MODEL: "fake", OPENAI_BASE_URL: provider.baseUrl, OPENAI_API_KEY: "x" };
  const replyTo = "ws-erin-q1";
  let previewId = "";
  {
    await using first = await startLocalGateway(home.path, env);
    await using chat = new ChatClient(first.url, "erin");
    await chat.ready();
    chat.say("q1", "tell me something");
    const preview = await chat.until(
      "a preview with a few words",
      (f) => f.type === "message" && f.reply_to === replyTo,
    );
    previewId = preview.id as string;
    await chat.until(
      "more of the preview",
      (f) => f.type === "message" && f.id === previewId && "append" in f,
    );
    first.gateway.child.kill("SIGKILL");
    assert.equal(await first.gateway.exited, 137);
  }
  const newAnswer = "A different, complete answer.";
  provider.behaviour = { tokens: () => ["A different, ", "complete answer."], tokenDelayMs: 50 };
  await using second = await startLocalGateway(home.path, env);
  await using chat = new ChatClient(second.url, "erin");
  await chat.ready();
  await chat.until(
    "the answer given again",
    (f) => f.type === "message" && f.id === previewId && f.final === true,
  );
  const finals = chat.frames.filter((f) => f.type === "message" && f.final === true);
  assert.deepEqual(
    finals.map((f) => [f.id, f.text]),
    [[previewId, newAnswer]],
    "the preview message now holds the new answer alone",
  );
  assert.ok(
    !chat.frames.some((f) => typeof f.append === "string" && /old\d/.test(f.append)),
    "nothing of the old answer is shown again",
  );
  const shown = await runHermes(
    ["sessions", "show", "agent:main:local:dm:erin", "--json"],
    { home: home.path, env: testEnv(home.path) },
  );
  const messages = JSON.parse(shown.stdout).messages as { role: string; text: string }[];
  assert.deepEqual(messages.map((m) => [m.role, m.text]), [
    ["user", "tell me something"],
    ["assistant", newAnswer],
  ]);
});
