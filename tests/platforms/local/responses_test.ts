import assert from "node:assert/strict";
import type { ApiError, ApiTurnRequest } from "../../../lib/platforms/local/api_protocol.ts";
import { responsesApi } from "../../../lib/platforms/local/responses.ts";

function parsed(body: unknown): ApiTurnRequest {
  const request = responsesApi.parse(body);
  assert.ok(!("status" in request), `expected a request, got ${JSON.stringify(request)}`);
  return request;
}

function refused(body: unknown): ApiError {
  const error = responsesApi.parse(body);
  assert.ok("status" in error, `expected an error, got ${JSON.stringify(error)}`);
  return error;
}

/** The events of an SSE text, with the `event:` name each one carried. */
function events(sse: string): { name: string; data: Record<string, unknown> }[] {
  assert.ok(sse.endsWith("\n\n"), "every event ends with a blank line");
  return sse.slice(0, -2).split("\n\n").map((block) => {
    const match = /^event: (.+)\ndata: (.+)$/.exec(block);
    assert.ok(match, `malformed event: ${JSON.stringify(block)}`);
    return { name: match[1]!, data: JSON.parse(match[2]!) };
  });
}

Deno.test("parse() answers a string input as the user's text, with defaults", () => {
  const request = parsed({ input: "hello responses" });
  assert.deepEqual(request, {
    text: "hello responses",
    promptText: "hello responses",
    stream: false,
    user: "api",
    model: "hermes",
    includeUsage: false,
    images: [],
  });
  const named = parsed({ input: "hi", model: "gpt-x", user: "carol", stream: true });
  assert.equal(named.model, "gpt-x");
  assert.equal(named.user, "carol");
  assert.equal(named.stream, true);
});

Deno.test("parse() answers the last user message of an item input and ignores other items", () => {
  const request = parsed({
    input: [
      { role: "system", content: "Be terse." },
      { role: "user", content: "first" },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "one" }] },
      { type: "item_reference", id: "msg_123" },
      { type: "function_call_output", call_id: "c1", output: "42" },
      {
        role: "user",
        content: [
          { type: "input_text", text: "second" },
          { type: "input_image", image_url: "https://example.com/x.png" },
          { type: "input_text", text: "part" },
        ],
      },
    ],
    previous_response_id: "resp_earlier",
    store: false,
    include: [],
  });
  assert.equal(request.text, "second\npart");
  assert.equal(request.promptText, "Be terse.\nfirst\none\nsecond\npart");
});

Deno.test("parse() accepts instructions but does not answer them", () => {
  const request = parsed({ instructions: "You are a pirate.", input: "ahoy" });
  assert.equal(request.text, "ahoy");
  assert.equal(request.promptText, "You are a pirate.\nahoy", "they count in the usage estimate");
  const none = refused({ instructions: "You are a pirate.", input: [] });
  assert.equal(none.status, 400);
});

Deno.test("parse() refuses a request without a user message with a 400 naming the input", async (t) => {
  const cases: [string, unknown][] = [
    ["no input", {}],
    ["an empty string", { input: "  " }],
    ["only an assistant message", { input: [{ role: "assistant", content: "x" }] }],
    ["a user message with neither text nor an image", {
      input: [{ role: "user", content: [{ type: "input_file", file_id: "f-1" }] }],
    }],
  ];
  for (const [name, body] of cases) {
    await t.step(name, () => {
      const error = refused(body);
      assert.equal(error.status, 400);
      assert.equal(error.body.error.param, "input");
      assert.equal(error.body.error.type, "invalid_request_error");
      assert.match(error.body.error.message, /^Invalid request: input/);
    });
  }
});

Deno.test("parse() refuses malformed fields with a 400 naming them", async (t) => {
  const cases: [string, unknown, string, RegExp][] = [
    [
      "a number as content",
      { input: [{ role: "user", content: 42 }] },
      "input.0.content",
      /content parts/,
    ],
    ["an unknown role", { input: [{ role: "tool", content: "x" }] }, "input.0.role", /./],
    ["a bad user", { input: "x", user: "a:b" }, "user", /without ':'/],
    ["a string stream", { input: "x", stream: "yes" }, "stream", /./],
    ["a body that is not an object", "hello", "", /^Invalid request/],
  ];
  for (const [name, body, param, pattern] of cases) {
    await t.step(name, () => {
      const error = refused(body);
      assert.equal(error.status, 400);
      assert.equal(error.body.error.param, param || null);
      assert.match(error.body.error.message, pattern);
    });
  }
});

Deno.test("whole() is a completed response with one assistant message and estimated usage", () => {
  const request = parsed({ input: "hello responses", model: "hermes-1" });
  const body = responsesApi.whole("resp_abc123", request, "hello responses");
  assert.equal(body.id, "resp_abc123");
  assert.equal(body.object, "response");
  assert.equal(body.status, "completed");
  assert.equal(body.model, "hermes-1");
  assert.equal(typeof body.created_at, "number");
  assert.equal(body.error, null);
  assert.equal(body.incomplete_details, null);
  assert.deepEqual(body.tools, []);
  assert.equal(body.output_text, "hello responses");
  assert.deepEqual(body.output, [{
    type: "message",
    id: "msg_abc123",
    status: "completed",
    role: "assistant",
    content: [{ type: "output_text", text: "hello responses", annotations: [], logprobs: [] }],
  }]);
  assert.deepEqual(body.usage, {
    input_tokens: 4,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 4,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 8,
    estimated: true,
  });
});

Deno.test("stream() writes the typed events in order, numbered from 0, with no [DONE]", () => {
  const request = parsed({ input: "hi there", stream: true });
  const writer = responsesApi.stream("resp_f00d", request);
  const sse = writer.open() + writer.delta("hi ") + writer.delta("there") +
    writer.close("hi there");
  assert.equal(sse.includes("[DONE]"), false);
  const all = events(sse);
  assert.deepEqual(all.map((e) => e.name), [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
  ]);
  for (const [index, event] of all.entries()) {
    assert.equal(event.data.type, event.name, "the event line names the data's type");
    assert.equal(event.data.sequence_number, index);
  }

  const [created, , added, , delta, , textDone, , itemDone, completed] = all.map((e) => e.data);
  const createdResponse = created!.response as Record<string, unknown>;
  assert.equal(createdResponse.id, "resp_f00d");
  assert.equal(createdResponse.status, "in_progress");
  assert.deepEqual(createdResponse.output, []);
  assert.deepEqual(added!.item, {
    type: "message",
    id: "msg_f00d",
    status: "in_progress",
    role: "assistant",
    content: [],
  });
  assert.deepEqual(delta, {
    type: "response.output_text.delta",
    sequence_number: 4,
    item_id: "msg_f00d",
    output_index: 0,
    content_index: 0,
    delta: "hi ",
    logprobs: [],
  });
  assert.equal(textDone!.text, "hi there");
  assert.equal((itemDone!.item as { status: string }).status, "completed");

  const final = completed!.response as Record<string, unknown>;
  assert.equal(final.status, "completed");
  assert.equal(final.created_at, createdResponse.created_at);
  assert.deepEqual(final.output, [itemDone!.item]);
  assert.deepEqual(final.usage, {
    input_tokens: 2,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 2,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 4,
    estimated: true,
  });
});

Deno.test("stream() numbers each writer's events on its own", () => {
  const request = parsed({ input: "x", stream: true });
  const first = responsesApi.stream("resp_1", request);
  first.open();
  const second = events(responsesApi.stream("resp_2", request).open());
  assert.equal(second[0]!.data.sequence_number, 0);
});

Deno.test("parse() takes the answered message's input_image URLs, in order", () => {
  const request = parsed({
    input: [{
      role: "user",
      content: [
        { type: "input_text", text: "compare" },
        { type: "input_image", image_url: "data:image/png;base64,AAAA" },
        { type: "input_image", image_url: "https://cdn.example/b.png" },
      ],
    }],
  });
  assert.equal(request.text, "compare");
  assert.deepEqual(request.images, ["data:image/png;base64,AAAA", "https://cdn.example/b.png"]);
});
