import assert from "node:assert/strict";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";
import OpenAI from "openai";
import { tempDir } from "../_helpers.ts";
import { startLocalGateway } from "./_local.ts";

Deno.test("the official openai client gets whole and streamed answers from /v1/responses", async (t) => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  const client = new OpenAI({ baseURL: new URL("v1", local.url).href, apiKey: "unused" });

  await t.step("responses.create() answers whole", async () => {
    const response = await client.responses.create({ model: "hermes", input: "hello responses" });
    assert.equal(response.object, "response");
    assert.equal(response.status, "completed");
    assert.match(response.id, /^resp_/);
    assert.equal(response.output_text, "hello responses");
    assert.ok((response.usage?.output_tokens ?? 0) > 0);
    assert.equal((response.usage as { estimated?: boolean } | undefined)?.estimated, true);
  });

  await t.step("responses.create({ stream: true }) streams the text as deltas", async () => {
    const stream = await client.responses.create({
      model: "hermes",
      input: [{
        role: "user",
        content: [{ type: "input_text", text: "hello streamed responses" }],
      }],
      stream: true,
    });
    const deltas: string[] = [];
    const types: string[] = [];
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") deltas.push(event.delta);
      if (event.type === "response.completed") completed = event.response;
    }
    assert.equal(deltas.join(""), "hello streamed responses");
    assert.equal(types[0], "response.created");
    assert.equal(types.at(-1), "response.completed");
    assert.ok(completed, "the stream ends with response.completed");
    assert.equal(completed.status, "completed");
    assert.ok(completed.usage && completed.usage.total_tokens > 0);
  });

  await t.step("responses.stream() accumulates the same final response", async () => {
    const stream = client.responses.stream({ model: "hermes", input: "hello accumulated" });
    const final = await stream.finalResponse();
    assert.equal(final.output_text, "hello accumulated");
  });
});

Deno.test("the AI SDK's default openai model (Responses API) generates and streams text through the gateway", async (t) => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  const model = createOpenAI({ baseURL: new URL("v1", local.url).href, apiKey: "unused" })(
    "hermes",
  );

  await t.step("generateText() returns the reply", async () => {
    const result = await generateText({ model, prompt: "hello ai sdk" });
    assert.equal(result.text, "hello ai sdk");
    assert.equal(result.finishReason, "stop");
    assert.ok((result.usage.inputTokens ?? 0) > 0, "the estimated usage reaches the SDK");
  });

  await t.step("streamText() streams the reply", async () => {
    const errors: unknown[] = [];
    const result = streamText({
      model,
      prompt: "hello streamed ai sdk",
      onError: ({ error }) => void errors.push(error),
    });
    const parts: string[] = [];
    for await (const part of result.textStream) parts.push(part);
    assert.deepEqual(errors, []);
    assert.equal(parts.join(""), "hello streamed ai sdk");
    assert.equal(await result.finishReason, "stop");
  });
});
