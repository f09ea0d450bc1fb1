import assert from "node:assert/strict";
import OpenAI from "openai";
import { runHermes, tempDir } from "../_helpers.ts";
import { testEnv } from "../gateway/_gateway.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";

type Chunk = OpenAI.Chat.Completions.ChatCompletionChunk;

/** A gateway whose openai agent is the fake, replying with the words of the question. */
async function gatewayWithFakeModel(home: string, openai: { baseUrl: string }) {
  return await startLocalGateway(home, {
    HERMES_MODEL: "fake",
    OPENAI_BASE_URL: openai.baseUrl,
    OPENAI_API_KEY: "sk-fake",
  });
}

function clientOf(url: string): OpenAI {
  return new OpenAI({ baseURL: new URL("v1", url).href, apiKey: "unused" });
}

async function collect(stream: AsyncIterable<Chunk>): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function contentOf(chunks: Chunk[]): string {
  return chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
}

Deno.test("chat.completions with include_usage ends with an estimated usage chunk; without it there is none", async (t) => {
  await using openai = startFakeOpenAI({ tokenDelayMs: 10 });
  await using home = tempDir();
  await using local = await gatewayWithFakeModel(home.path, openai);
  const client = clientOf(local.url);

  await t.step("a stream with include_usage ends with choices [] and the usage", async () => {
    const chunks = await collect(
      await client.chat.completions.create({
        model: "hermes",
        messages: [{ role: "user", content: "count my tokens please" }],
        stream: true,
        stream_options: { include_usage: true },
        user: "usage",
      }),
    );
    assert.equal(contentOf(chunks), "count my tokens please");
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    const usage = last.usage as OpenAI.CompletionUsage & { estimated?: boolean };
    assert.ok(usage.prompt_tokens > 0, JSON.stringify(usage));
    assert.ok(usage.completion_tokens > 0, JSON.stringify(usage));
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(usage.estimated, true);
    const withUsage = chunks.filter((c) => c.usage);
    assert.equal(withUsage.length, 1, "only the last chunk has usage");
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, "stop");
  });

  await t.step("a stream without include_usage has no usage chunk", async () => {
    const chunks = await collect(
      await client.chat.completions.create({
        model: "hermes",
        messages: [{ role: "user", content: "no usage this time" }],
        stream: true,
        user: "usage",
      }),
    );
    assert.equal(contentOf(chunks), "no usage this time");
    assert.deepEqual(chunks.filter((c) => c.usage), []);
    assert.ok(chunks.every((c) => c.choices.length === 1), "every chunk has its choice");
    assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, "stop");
  });

  await t.step("a whole answer has the usage", async () => {
    const completion = await client.chat.completions.create({
      model: "hermes",
      messages: [{ role: "user", content: "answer me whole" }],
      user: "usage",
    });
    assert.equal(completion.choices[0]?.message.content, "answer me whole");
    const usage = completion.usage as OpenAI.CompletionUsage & { estimated?: boolean };
    assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0, JSON.stringify(usage));
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(usage.estimated, true);
  });
});

Deno.test("a request without user goes to the api session, not the web chat's history of local", async () => {
  await using openai = startFakeOpenAI();
  await using home = tempDir();
  await using local = await gatewayWithFakeModel(home.path, openai);

  {
    await using page = new ChatClient(local.url, "local");
    await page.ready();
    const completion = await clientOf(local.url).chat.completions.create({
      model: "hermes",
      messages: [{ role: "user", content: "only for the api session" }],
    });
    assert.equal(completion.choices[0]?.message.content, "only for the api session");
    assert.ok(
      !JSON.stringify(page.frames).includes("only for the api session"),
      "the open page was shown nothing of it",
    );
  }

  await using reloaded = new ChatClient(local.url, "local");
  const ready = await reloaded.ready();
  assert.ok(Array.isArray(ready.history));
  assert.ok(
    !JSON.stringify(ready.history).includes("only for the api session"),
    JSON.stringify(ready.history),
  );

  const listed = await runHermes(["sessions", "list", "--json"], {
    home: home.path,
    env: testEnv(home.path),
  });
  assert.equal(listed.code, 0, listed.stderr);
  const keys = (JSON.parse(listed.stdout) as { key: string }[]).map((s) => s.key);
  assert.deepEqual(keys, ["agent:main:local:dm:api"]);
});

Deno.test("a page in the api room sees a reply streamed to an API client as appended deltas, and the whole text at the end", async () => {
  const tokens = ["The ", "reply ", "comes ", "in ", "six ", "pieces."];
  await using openai = startFakeOpenAI({ tokens: () => tokens, tokenDelayMs: 50 });
  await using home = tempDir();
  await using local = await gatewayWithFakeModel(home.path, openai);
  await using page = new ChatClient(local.url, "api");
  await page.ready();

  const chunks = await collect(
    await clientOf(local.url).chat.completions.create({
      model: "hermes",
      messages: [{ role: "user", content: "stream to the room" }],
      stream: true,
    }),
  );
  assert.equal(contentOf(chunks), tokens.join(""));

  const asked = await page.until(
    "the API user's message",
    (f) => f.type === "user_message" && f.text === "stream to the room",
  );
  await page.until("the settled frame", (f) => f.type === "settled" && f.reply_to === asked.id);
  // The first frame names what it answers; the appends after it name only the reply.
  const first = page.frames.find((f) => f.type === "message" && f.reply_to === asked.id)!;
  const frames = page.frames.filter((f) => f.type === "message" && f.id === first.id);
  assert.equal(frames[0], first);
  const appends = frames.filter((f) => typeof f.append === "string");
  assert.ok(appends.length >= 2, `deltas, not whole texts: ${JSON.stringify(frames)}`);
  const final = frames.at(-1)!;
  assert.equal(final.final, true);
  assert.equal(final.text, tokens.join(""));
  assert.equal(final.append, undefined);
  const streaming = frames.slice(0, -1);
  assert.ok(streaming.every((f) => f.final === false), JSON.stringify(frames));
  const shown = streaming.map((f) => (f.text ?? f.append) as string).join("");
  assert.equal(shown, tokens.join(""), "the deltas add up to the reply");
});
