import assert from "node:assert/strict";
import { openPostgresStateStore } from "../../../lib/storage/postgres/state_store.ts";
import type { MessageEvent } from "../../../lib/platforms/event.ts";
import { freshDatabase } from "../../_postgres.ts";

let counter = 0;
function event(text: string, platform = "test"): MessageEvent {
  return {
    messageId: `m-${++counter}`,
    source: { platform, chatType: "dm", chatId: `c-${counter}`, userId: "ada" },
    text,
    receivedAt: "2026-06-01T10:00:00.000Z",
  };
}

async function storeWith(texts: readonly (string | [string, string])[]) {
  const store = await openPostgresStateStore(await freshDatabase(), { max: 2 });
  for (const item of texts) {
    const [text, platform] = typeof item === "string" ? [item, "test"] : item;
    const entry = (await store.acceptInbound(event(text, platform), `k:${text}`))!;
    await store.beginTurn(entry, { expired: () => undefined, text });
  }
  return store;
}

Deno.test("search on PostgreSQL: every word required, a CJK substring of 3+, a CJK pair, a single character, LIKE's wildcards taken literally", async () => {
  await using store = await storeWith([
    "the quarterly weather report",
    "weather only",
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen needle nineteen twenty",
    "明天天气很好，我们去公园",
    "天 alone",
    "100% sure_thing",
    "100 percent surething",
    ["weather on another platform", "other"],
  ]);
  const texts = async (query: string, platform?: string) =>
    (await store.search(query, { platform })).map((h) => h.text).sort();
  assert.deepEqual(await texts("weather report"), ["the quarterly weather report"]);
  assert.deepEqual(await texts("WEATHER"), [
    "the quarterly weather report",
    "weather on another platform",
    "weather only",
  ]);
  assert.deepEqual(await texts("weather", "other"), ["weather on another platform"]);
  assert.deepEqual(await texts("天气很"), ["明天天气很好，我们去公园"]);
  assert.deepEqual(await texts("公园"), ["明天天气很好，我们去公园"]);
  assert.deepEqual(await texts("好我"), [], "a pair across punctuation is no word");
  assert.deepEqual(await texts("天"), ["天 alone", "明天天气很好，我们去公园"]);
  assert.deepEqual(await texts("% 公"), [], "every term required");
  assert.deepEqual(await texts("0% sure_"), [], "no CJK: words, and these are none");
  assert.deepEqual((await store.search("天气很")).map((h) => h.snippet), [
    "明天[天气很]好，我们去公园",
  ]);
  assert.deepEqual((await store.search("quarterly")).map((h) => h.snippet), [
    "the [quarterly] weather report",
  ]);
  const [long] = await store.search("needle");
  assert.match(long!.snippet, /^…[a-z ]+ \[needle\] nineteen twenty$/, "cut before, not after");
  assert.deepEqual(await store.searchLag(), { messages: 0 }, "searchable once stored");
});

Deno.test("a message holding a NUL character is stored (as U+FFFD), not refused by PostgreSQL", async () => {
  await using store = await storeWith([]);
  const entry = (await store.acceptInbound(event("nul\u0000inside"), "k1"))!;
  assert.ok(entry, "journaled");
  const session = await store.beginTurn(entry, {
    expired: () => undefined,
    text: "nul\u0000inside",
  });
  await store.completeTurn(entry, {
    sessionId: session.id,
    reply: { text: "echo\u0000back", kind: "chat" },
    parts: [{ text: "echo\u0000back" }],
    deadline: "2026-06-02T10:00:00.000Z",
    state: "done",
    outcome: "replied",
  });
  assert.deepEqual((await store.history(session.id)).map((m) => m.text), [
    "nul\ufffdinside",
    "echo\ufffdback",
  ]);
  assert.deepEqual((await store.partsOf(entry.id)).map((p) => p.text), ["echo\ufffdback"]);
});
