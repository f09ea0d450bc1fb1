import assert from "node:assert/strict";
import OpenAI from "openai";
import { runHermes, tempDir } from "../_helpers.ts";
import { startHermes, testEnv } from "../gateway/_gateway.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";

async function post(url: string, body: BodyInit, headers: Record<string, string> = {}) {
  const response = await fetch(new URL("v1/chat/completions", url), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get("content-type"), text };
}

function assertJsonError(
  reply: { status: number; type: string | null; text: string },
  status: number,
  pattern: RegExp,
) {
  assert.equal(reply.status, status, reply.text);
  assert.match(reply.type ?? "", /application\/json/);
  const body = JSON.parse(reply.text) as { error: { message: string; type: string } };
  assert.match(body.error.message, pattern);
}

Deno.test("malformed requests to the local API get 4xx JSON errors and the gateway keeps serving", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  const { url } = local;

  assertJsonError(await post(url, "{not json"), 400, /^Invalid JSON body/);
  assertJsonError(await post(url, ""), 400, /Invalid JSON body|body is empty/);
  assertJsonError(
    await post(url, JSON.stringify({ messages: "hi" })),
    400,
    /^Invalid request: messages: /,
  );
  assertJsonError(
    await post(url, JSON.stringify({ messages: [{ role: "user", content: 42 }] })),
    400,
    /messages\.0\.content: expected a string or an array of content parts/,
  );
  assertJsonError(
    await post(url, JSON.stringify({ messages: [{ role: "user", content: "x" }], stream: "yes" })),
    400,
    /stream/,
  );
  assertJsonError(
    await post(url, JSON.stringify({ messages: [{ role: "user", content: "x" }], user: "a:b" })),
    400,
    /user/,
  );
  assertJsonError(
    await post(url, JSON.stringify({ messages: [{ role: "assistant", content: "x" }] })),
    400,
    /must end with a user message/,
  );
  const huge = JSON.stringify({
    messages: [{ role: "user", content: "x".repeat(10 * 1024 * 1024) }],
  });
  assertJsonError(await post(url, huge), 413, /too large: the limit is 1048576 bytes/);
  const wrongMethod = await fetch(new URL("v1/chat/completions", url));
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("allow"), "POST");
  await wrongMethod.body?.cancel();
  assertJsonError(
    await (async () => {
      const r = await fetch(new URL("nowhere", url));
      return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
    })(),
    404,
    /Not found: \/nowhere/,
  );

  await using chat = new ChatClient(url, "erin");
  await chat.ready();
  chat.sendRaw("not json");
  chat.sendRaw(JSON.stringify({ type: "message", text: 5 }));
  await chat.until(
    "two error frames",
    () => chat.frames.filter((f) => f.type === "error").length === 2,
  );

  const ok = await post(
    url,
    JSON.stringify({ messages: [{ role: "user", content: "still here?" }] }),
  );
  assert.equal(ok.status, 200, ok.text);
  assert.equal(JSON.parse(ok.text).choices[0].message.content, "still here?");
  const health = await (await fetch(new URL("healthz", url))).json();
  assert.equal(health.gateway, "running");
  assert.equal(local.gateway.stderr().includes("panicked"), false);
});

Deno.test("the official openai client streams tokens from an openai provider through the gateway, in order", async () => {
  const tokens = ["The ", "quick ", "brown ", "fox ", "jumps."];
  await using provider = startFakeOpenAI({ tokens: () => tokens, tokenDelayMs: 5 });
  await using home = tempDir();
  await using local = await startLocalGateway(home.path, {
    HERMES_MODEL: "fake-model",
    OPENAI_BASE_URL: provider.baseUrl,
    OPENAI_API_KEY: "sk-provider-secret",
  });
  const client = new OpenAI({
    baseURL: new URL("v1", local.url).href,
    apiKey: "unused-on-loopback",
  });

  const stream = await client.chat.completions.create({
    model: "hermes",
    messages: [{ role: "user", content: "tell me a sentence" }],
    stream: true,
    user: "carol",
  });
  const deltas: string[] = [];
  let finish: string | null = null;
  for await (const chunk of stream) {
    const content = chunk.choices[0]?.delta?.content;
    if (content) deltas.push(content);
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.deepEqual(deltas, tokens);
  assert.equal(finish, "stop");
  assert.equal(provider.requests.length, 1);
  assert.equal(provider.requests[0]!.model, "fake-model");
  assert.deepEqual(provider.requests[0]!.messages, [{
    role: "user",
    content: "tell me a sentence",
  }]);

  const whole = await client.chat.completions.create({
    model: "hermes",
    messages: [{ role: "user", content: "again" }],
    user: "carol",
  });
  assert.equal(whole.choices[0]!.message.content, tokens.join(""));
  const history = provider.requests[1]!.messages as { role: string; content: string }[];
  assert.deepEqual(
    history.map((m) => m.role),
    ["user", "assistant", "user"],
    "the second turn carries the session's history",
  );

  const shown = await runHermes(["sessions", "show", "agent:main:local:dm:carol", "--json"], {
    home: home.path,
  });
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(JSON.parse(shown.stdout).messages.length, 4);
});

Deno.test("a provider that keeps failing gives the user a clear error reply, not silence", async () => {
  await using provider = startFakeOpenAI({ failures: [500, 500, 500, 500, 500] });
  await using home = tempDir();
  await using local = await startLocalGateway(home.path, {
    HERMES_MODEL: "fake-model",
    OPENAI_BASE_URL: provider.baseUrl,
  });
  const reply = await post(
    local.url,
    JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
  );
  assert.equal(reply.status, 200);
  assert.match(
    JSON.parse(reply.text).choices[0].message.content,
    /^⚠️ Sorry, I could not answer: the model is unavailable after 4 attempts \(HTTP 500/,
  );
});

Deno.test("off loopback the local platform refuses to start without LOCAL_API_KEY (exit 78) and requires the key with one", async () => {
  await using home = tempDir();
  const refused = startHermes(home.path, ["gateway", "run"], { LOCAL_HOST: "0.0.0.0" });
  assert.equal(await refused.exited, 78);
  assert.match(
    refused.stderr(),
    /Cannot serve the local platform on 0\.0\.0\.0 without an API key.*LOCAL_API_KEY/,
  );

  await using local = await startLocalGateway(home.path, {
    LOCAL_HOST: "0.0.0.0",
    LOCAL_API_KEY: "k-123456789",
  });
  const body = JSON.stringify({ messages: [{ role: "user", content: "hi" }] });
  assertJsonError(await post(local.url, body), 401, /Missing or invalid API key/);
  assertJsonError(await post(local.url, body, { authorization: "Bearer wrong" }), 401, /API key/);
  const ok = await post(local.url, body, { authorization: "Bearer k-123456789" });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(
    local.gateway.stderr().includes("k-123456789"),
    false,
    "the key never reaches the log",
  );
});

Deno.test("kill -9 while a turn is in flight: after run, the reply is delivered exactly once", async () => {
  const words = Array.from({ length: 12 }, (_, i) => `w${i} `);
  await using provider = startFakeOpenAI({ tokens: () => words, tokenDelayMs: 250 });
  await using home = tempDir();
  const env = { HERMES_MODEL: "slow-model", OPENAI_BASE_URL: provider.baseUrl };
  const replyTo = "ws-dave-q1";
  {
    await using first = await startLocalGateway(home.path, env);
    await using chat = new ChatClient(first.url, "dave");
    await chat.ready();
    chat.say("q1", "tell me slowly");
    await chat.until("a streamed preview", (f) => f.type === "message" && f.reply_to === replyTo);
    first.gateway.child.kill("SIGKILL");
    assert.equal(await first.gateway.exited, 137);
  }
  provider.behaviour = { tokens: () => words, tokenDelayMs: 5 };
  await using second = await startLocalGateway(home.path, env);
  await using chat = new ChatClient(second.url, "dave");
  const ready = await chat.ready();
  const expected = words.join("");
  const history = ready.history as { role: string; text: string }[];
  if (!history.some((m) => m.role === "assistant")) {
    await chat.until("the replayed reply", (f) => f.type === "settled" && f.reply_to === replyTo);
  }
  const liveFinals = chat.frames.filter((f) =>
    f.type === "message" && f.reply_to === replyTo && f.final === true
  );
  const fromHistory = history.filter((m) => m.role === "assistant");
  assert.equal(liveFinals.length + fromHistory.length, 1, JSON.stringify(chat.frames));
  assert.equal(
    ((liveFinals[0]?.text as string | undefined) ?? fromHistory[0]!.text).trim(),
    expected.trim(),
  );
  assert.equal(provider.requests.length, 2, "the turn ran again after the crash");

  const shown = await runHermes(["sessions", "show", "agent:main:local:dm:dave", "--json"], {
    home: home.path,
    env: testEnv(home.path),
  });
  const messages = JSON.parse(shown.stdout).messages as { role: string; text: string }[];
  assert.deepEqual(messages.map((m) => m.role), ["user", "assistant"], "stored once each");
});
