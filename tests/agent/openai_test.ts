import assert from "node:assert/strict";
import { AgentError, type AgentTurn } from "../../lib/agent/agent.ts";
import { OpenAIAgent } from "../../lib/agent/openai.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";

function turn(text: string, signal = new AbortController().signal): AgentTurn {
  return {
    sessionKey: "agent:main:local:dm:alice",
    source: { platform: "local", chatType: "dm", chatId: "alice", userId: "alice" },
    history: [{ role: "user", content: text }],
    signal,
  };
}

async function collect(deltas: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const delta of deltas) out.push(delta);
  return out;
}

function agent(baseUrl: string, extra: Partial<ConstructorParameters<typeof OpenAIAgent>[0]> = {}) {
  return new OpenAIAgent({
    baseUrl,
    model: "fake-model",
    apiKey: "sk-test",
    timeoutMs: 5_000,
    maxRetries: 3,
    retryBaseMs: 10,
    ...extra,
  });
}

Deno.test("the openai agent streams the provider's tokens in order and sends the history", async () => {
  await using fake = startFakeOpenAI({ tokens: () => ["Hel", "lo", ", ", "world"] });
  const deltas = await collect(agent(fake.baseUrl, { systemPrompt: "be brief" }).run(turn("hi")));
  assert.deepEqual(deltas, ["Hel", "lo", ", ", "world"]);
  assert.equal(fake.requests.length, 1);
  assert.equal(fake.requests[0]!.model, "fake-model");
  assert.equal(fake.requests[0]!.stream, true);
  assert.deepEqual(fake.requests[0]!.messages, [
    { role: "system", content: "be brief" },
    { role: "user", content: "hi" },
  ]);
});

Deno.test("the openai agent retries 429 and 5xx before the first token", async () => {
  await using fake = startFakeOpenAI({ failures: [429, 500, 503], retryAfterS: 0 });
  const deltas = await collect(agent(fake.baseUrl).run(turn("after retries")));
  assert.equal(deltas.join(""), "after retries");
  assert.equal(fake.requests.length, 4);
});

Deno.test("the openai agent gives up after max_retries with an error that names the status", async () => {
  await using fake = startFakeOpenAI({ failures: [500, 500, 500] });
  await assert.rejects(
    collect(agent(fake.baseUrl, { maxRetries: 2 }).run(turn("x"))),
    (error: unknown) =>
      error instanceof AgentError &&
      error.message === "the model is unavailable after 3 attempts (HTTP 500)" &&
      error.detail === "fake failure 500",
  );
  assert.equal(fake.requests.length, 3);
});

Deno.test("the openai agent does not retry a 400 and keeps the provider's message as the detail", async () => {
  await using fake = startFakeOpenAI({ failures: [400] });
  await assert.rejects(
    collect(agent(fake.baseUrl).run(turn("x"))),
    (error: unknown) =>
      error instanceof AgentError &&
      error.message === "the model refused the request (HTTP 400)" &&
      error.detail === "fake failure 400",
  );
  assert.equal(fake.requests.length, 1);
});

Deno.test("the openai agent times out when the provider stalls between tokens", async () => {
  await using fake = startFakeOpenAI({ tokens: () => ["a", "b"], tokenDelayMs: 400 });
  await assert.rejects(
    collect(agent(fake.baseUrl, { timeoutMs: 100 }).run(turn("x"))),
    /sent nothing for 0.1 s/,
  );
});

Deno.test("aborting the turn ends the stream quietly", async () => {
  await using fake = startFakeOpenAI({ tokens: () => ["a", "b", "c", "d"], tokenDelayMs: 50 });
  const controller = new AbortController();
  const out: string[] = [];
  for await (const delta of agent(fake.baseUrl).run(turn("x", controller.signal))) {
    out.push(delta);
    controller.abort("stopped");
  }
  assert.deepEqual(out, ["a"]);
});

Deno.test("an unreachable provider is an AgentError after the retries", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    collect(agent(`http://127.0.0.1:${port}/v1`, { maxRetries: 1 }).run(turn("x"))),
    (error: unknown) =>
      error instanceof AgentError && /\(network error\)$/.test(error.message) &&
      (error.detail ?? "").length > 0,
  );
});
