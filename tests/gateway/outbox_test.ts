import assert from "node:assert/strict";
import { PlatformError } from "../../lib/errors.ts";
import { Outbox } from "../../lib/gateway/outbox.ts";
import { RateBudgets } from "../../lib/gateway/rate_budget.ts";
import type { PlatformAdapter } from "../../lib/platforms/adapter.ts";
import type {
  MessageEvent,
  OutboundMessage,
  SendContext,
  SendResult,
  SessionSource,
} from "../../lib/platforms/event.ts";
import { LinkHealthTracker } from "../../lib/platforms/health.ts";
import { openSqliteStateStore } from "../../lib/storage/sqlite/state_store.ts";
import type { StateStore } from "../../lib/storage/state_store.ts";
import { lineSink, Logger } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";
import { tempDir } from "../_helpers.ts";

/** One call the platform got. */
interface Call {
  readonly chat: string;
  readonly text: string;
  readonly context: SendContext;
  readonly at: number;
}

/** A platform whose answer to each send `decide` picks; it records every call. */
function scriptedPlatform(decide: (call: Call, calls: Call[]) => SendResult | Error) {
  const calls: Call[] = [];
  let next = 1;
  const adapter: PlatformAdapter = {
    name: "test",
    capabilities: { streaming: "final", maxMessageLength: 1000 },
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    send(to: SessionSource, message: OutboundMessage, context: SendContext) {
      const call = { chat: to.chatId, text: message.text, context, at: performance.now() };
      calls.push(call);
      const answer = decide(call, calls);
      if (answer instanceof Error) return Promise.reject(answer);
      return Promise.resolve(
        answer.status === "sent" ? { ...answer, messageId: `p${next++}` } : answer,
      );
    },
    health: () => new LinkHealthTracker().snapshot(),
  };
  return { adapter, calls };
}

const SENT: SendResult = { status: "sent", messageId: "" };

function logger(lines: string[]) {
  return new Logger({
    level: "debug",
    sinks: [lineSink("json", (line) => lines.push(line))],
    masker: new SecretMasker(),
  });
}

let counter = 0;
function inbound(chatId: string, text: string, extra: Partial<MessageEvent> = {}): MessageEvent {
  return {
    messageId: `in-${++counter}`,
    source: { platform: "test", chatType: "group", chatId, userId: "alice" },
    text,
    receivedAt: new Date().toISOString(),
    ...extra,
  };
}

/** Journals a message of `chatId` and queues `parts` as its reply, as a completed turn does. */
async function reply(store: StateStore, chatId: string, parts: string[], deadlineMs = 60_000) {
  const entry = (await store.acceptInbound(inbound(chatId, "question"), `k:${chatId}`))!;
  await store.answer(entry, {
    parts: parts.map((text) => ({ text })),
    deadline: new Date(Date.now() + deadlineMs).toISOString(),
    state: "done",
    outcome: "replied",
  });
  return entry;
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5_000) {
  const deadline = performance.now() + ms;
  while (!await check()) {
    if (performance.now() > deadline) assert.fail(`Gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function setup(
  platform: { adapter: PlatformAdapter },
  options: { connected?: () => boolean; backoffMs?: number; budgets?: RateBudgets } = {},
) {
  const dir = tempDir();
  const store = openSqliteStateStore(`${dir.path}/state.db`);
  const lines: string[] = [];
  const done: number[] = [];
  const outbox = new Outbox({
    store,
    adapter: () => platform.adapter,
    isConnected: options.connected ?? (() => true),
    log: logger(lines),
    onPartDone: (id) => done.push(id),
    budgets: options.budgets,
    backoff: { baseMs: options.backoffMs ?? 50, maxMs: 200 },
  });
  return {
    store,
    outbox,
    lines,
    done,
    async [Symbol.asyncDispose]() {
      outbox.stop();
      store.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("a retryable refusal with retryAfterMs 300 delays each part; every part arrives once, in order", async () => {
  const platform = scriptedPlatform((call, calls) =>
    calls.filter((c) => c.context.idempotencyKey === call.context.idempotencyKey).length === 1
      ? new PlatformError("Too Many Requests", {
        platform: "test",
        code: 429,
        retryable: true,
        retryAfterMs: 300,
      })
      : SENT
  );
  await using t = setup(platform);
  const entry = await reply(t.store, "team", ["one", "two"]);
  t.outbox.kick();
  await until("both parts sent", async () => (await t.store.openParts()).length === 0);
  const byKey = (key: string) => platform.calls.filter((c) => c.context.idempotencyKey === key);
  for (const key of [`inbound:${entry.id}#0`, `inbound:${entry.id}#1`]) {
    const [first, second, ...more] = byKey(key);
    assert.deepEqual(more, [], `${key} went out once after its refusal`);
    assert.deepEqual([first!.context.attempt, second!.context.attempt], [1, 2]);
    assert.ok(second!.at - first!.at >= 295, `retried ${second!.at - first!.at} ms later`);
  }
  assert.deepEqual(
    platform.calls.map((c) => c.text),
    ["one", "one", "two", "two"],
    "part two waited for part one",
  );
  assert.ok(t.lines.some((l) => /a reply part failed; retrying/.test(l) && /"code":"429"/.test(l)));
});

Deno.test("a part deferred until the chat's next message holds the chat; the next message releases it with its reply context", async () => {
  let blocked = true;
  const platform = scriptedPlatform((call) =>
    call.chat === "team" && blocked
      ? { status: "deferred", until: "next_inbound", reason: "600039: no usable req_id" }
      : SENT
  );
  await using t = setup(platform);
  await reply(t.store, "team", ["held answer"]);
  await reply(t.store, "team", ["later answer"]);
  await reply(t.store, "other", ["other chat's answer"]);
  t.outbox.kick();
  await until("the other chat served", () => platform.calls.some((c) => c.chat === "other"));
  await until("the deferral recorded", async () => (await t.store.outboxCounts()).deferred === 1);
  assert.deepEqual(
    platform.calls.filter((c) => c.chat === "team").map((c) => c.text),
    ["held answer"],
    "the later part waits behind the held one",
  );

  blocked = false;
  const spoke = await t.store.acceptInbound(
    inbound("team", "anyone?", { replyContext: { req_id: "fresh-7" } }),
    "k:team",
  );
  await t.store.admitInbound(spoke!); // as the pipeline does once the message is authorized
  t.outbox.kick();
  await until("the chat's parts sent", async () => (await t.store.openParts()).length === 0);
  const team = platform.calls.filter((c) => c.chat === "team");
  assert.deepEqual(team.map((c) => c.text), ["held answer", "held answer", "later answer"]);
  assert.deepEqual(team[1]!.context.replyContext, { req_id: "fresh-7" });
  assert.equal(team[1]!.context.attempt, 2);
});

Deno.test("a permanent refusal is tried once and undeliverable, logged with its code; nothing else waits on it", async () => {
  const platform = scriptedPlatform((call) =>
    call.text === "doomed"
      ? new PlatformError("Forbidden: bot was blocked by the user", {
        platform: "test",
        code: 403,
        retryable: false,
      })
      : SENT
  );
  await using t = setup(platform);
  const doomed = await reply(t.store, "team", ["doomed", "fine after"]);
  await reply(t.store, "other", ["other chat"]);
  t.outbox.kick();
  await until("the rest sent", async () => (await t.store.openParts()).length === 0);
  assert.equal(platform.calls.filter((c) => c.text === "doomed").length, 1);
  const counts = await t.store.outboxCounts();
  assert.deepEqual([counts.undeliverable, counts.queued, counts.failed], [1, 0, 0]);
  const line = t.lines.find((l) => /a reply part is undeliverable/.test(l))!;
  assert.match(line, /"code":"403"/);
  assert.match(line, /bot was blocked/);
  assert.equal((await t.store.partsOf(doomed.id))[0]!.lastCode, "403");
  assert.ok(t.done.includes(doomed.id), "the pipeline hears that the part ended");
});

Deno.test("a network error is retried with backoff until the platform takes the part", async () => {
  const platform = scriptedPlatform((_call, calls) =>
    calls.length < 3 ? new TypeError("error sending request: connection reset") : SENT
  );
  await using t = setup(platform);
  await reply(t.store, "team", ["eventually"]);
  t.outbox.kick();
  await until("sent", async () => (await t.store.openParts()).length === 0);
  assert.deepEqual(platform.calls.map((c) => c.context.attempt), [1, 2, 3]);
  assert.ok(t.lines.some((l) => /"code":"network"/.test(l)));
});

Deno.test("a part whose retries would pass its deadline is undeliverable instead", async () => {
  const platform = scriptedPlatform(() =>
    new PlatformError("busy", {
      platform: "test",
      code: 429,
      retryable: true,
      retryAfterMs: 10_000,
    })
  );
  await using t = setup(platform);
  await reply(t.store, "team", ["too late"], 2_000);
  t.outbox.kick();
  await until("given up", async () => (await t.store.outboxCounts()).undeliverable === 1);
  assert.equal(platform.calls.length, 1);
});

Deno.test("parts wait while the platform's link is down and go when it is back", async () => {
  let up = false;
  const platform = scriptedPlatform(() => SENT);
  await using t = setup(platform, { connected: () => up });
  await reply(t.store, "team", ["after the outage"]);
  t.outbox.kick();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(platform.calls.length, 0);
  up = true;
  t.outbox.kick(); // what the gateway does when a link connects
  await until("sent", async () => (await t.store.openParts()).length === 0);
  assert.equal(platform.calls.length, 1);
});

Deno.test("a platform's rate paces one chat's parts and leaves other chats alone", async () => {
  const platform = scriptedPlatform(() => SENT);
  Object.assign(platform.adapter, {
    capabilities: {
      streaming: "final",
      maxMessageLength: 1000,
      rate: { perChatPerSecond: 5, globalPerSecond: 100 },
    },
  });
  await using t = setup(platform, { budgets: new RateBudgets() });
  await reply(t.store, "busy", ["1", "2", "3", "4"]);
  await reply(t.store, "quiet", ["only"]);
  t.outbox.kick();
  await until("all sent", async () => (await t.store.openParts()).length === 0);
  const busy = platform.calls.filter((c) => c.chat === "busy").map((c) => c.at);
  for (let i = 1; i < busy.length; i++) {
    assert.ok(
      busy[i]! - busy[i - 1]! >= 190,
      `part ${i} followed after ${busy[i]! - busy[i - 1]!} ms`,
    );
  }
  const quiet = platform.calls.find((c) => c.chat === "quiet")!;
  assert.ok(quiet.at < busy[1]!, "the quiet chat did not wait behind the busy one");
});

Deno.test("a part deferred until the next message is given up at its deadline, and counted", async () => {
  const platform = scriptedPlatform(() => ({
    status: "deferred",
    until: "next_inbound",
    reason: "no req_id",
  }));
  await using t = setup(platform);
  await reply(t.store, "team", ["held"], 300);
  t.outbox.kick();
  await until("given up", async () => (await t.store.outboxCounts()).undeliverable === 1);
  assert.equal(platform.calls.length, 1);
  assert.ok(t.lines.some((l) => /undeliverable/.test(l) && /"code":"deadline"/.test(l)));
});

Deno.test("a deferral until a time already past (or no time) waits a backoff, never loops", async () => {
  const platform = scriptedPlatform((_call, calls) =>
    calls.length <= 2
      ? {
        status: "deferred",
        until: calls.length === 1 ? "2020-01-01T00:00:00Z" : "soon",
        reason: "busy",
      }
      : SENT
  );
  await using t = setup(platform);
  await reply(t.store, "team", ["patient"]);
  t.outbox.kick();
  await until("sent", async () => (await t.store.openParts()).length === 0);
  assert.equal(platform.calls.length, 3, "one try per deferral, then the send");
  assert.ok(platform.calls[1]!.at - platform.calls[0]!.at >= 20, "waited before trying again");
});

Deno.test("a preview that can no longer be edited does not swallow the answer: it is sent anew", async () => {
  const platform = scriptedPlatform(() => SENT);
  const edits: string[] = [];
  Object.assign(platform.adapter, {
    capabilities: { streaming: "edit", maxMessageLength: 1000 },
    edit(_to: SessionSource, messageId: string) {
      edits.push(messageId);
      return Promise.reject(
        new PlatformError("Bad Request: message to edit not found", {
          platform: "test",
          code: 400,
          retryable: false,
        }),
      );
    },
  });
  await using t = setup(platform);
  const entry = (await t.store.acceptInbound(inbound("team", "q"), "k:team"))!;
  await t.store.answer(entry, {
    parts: [{ text: "the whole answer", editOf: "preview-7", shownText: "the who" }],
    deadline: new Date(Date.now() + 60_000).toISOString(),
    state: "done",
    outcome: "replied",
  });
  t.outbox.kick();
  await until("sent", async () => (await t.store.openParts()).length === 0);
  assert.deepEqual(edits, ["preview-7"]);
  assert.deepEqual(platform.calls.map((c) => [c.text, c.context.shownText]), [[
    "the whole answer",
    undefined,
  ]]);
  assert.equal((await t.store.partsOf(entry.id))[0]!.state, "sent");
});

Deno.test("a store that fails for a moment leaves no chat stuck: it is looked at again", async () => {
  const platform = scriptedPlatform(() => SENT);
  await using t = setup(platform);
  await reply(t.store, "team", ["despite a hiccup"]);
  const real = t.store.nextPart.bind(t.store);
  let failures = 1;
  t.store.nextPart = (chat: string) => {
    if (failures-- > 0) return Promise.reject(new Error("database is locked"));
    return real(chat);
  };
  t.outbox.kick('["test","team",""]');
  await until("sent", async () => (await t.store.openParts()).length === 0);
  assert.equal(platform.calls.length, 1);
  assert.ok(t.lines.some((l) => /trying the chat again shortly/.test(l)));
});

Deno.test("whenTried() resolves once a part's try ended, false when time runs out or the outbox stops", async () => {
  let refuse = true;
  const platform = scriptedPlatform(() =>
    refuse
      ? new PlatformError("Too Many Requests", { platform: "test", code: 429, retryable: true })
      : SENT
  );
  let up = true;
  await using t = setup(platform, { connected: () => up, backoffMs: 10_000 });
  const entry = await reply(t.store, "team", ["first", "second"]);
  const [first] = await t.store.partsOf(entry.id);
  const failed = t.outbox.whenTried(first!.id, 5_000);
  t.outbox.kick(first!.chatKey);
  assert.equal(await failed, true);
  assert.equal((await t.store.partsOf(entry.id))[0]!.state, "failed", "a retry is due");

  up = false;
  refuse = false;
  const waiting = t.outbox.whenTried(first!.id, 50);
  t.outbox.kick(first!.chatKey);
  assert.equal(await waiting, false, "no try while the link is down");

  const stopped = t.outbox.whenTried(first!.id, 5_000);
  await t.outbox.stop();
  assert.equal(await stopped, false, "a stop ends the wait");
  assert.equal(await t.outbox.whenTried(first!.id, 5_000), false, "and none begins after it");
});

Deno.test("a part whose link went down under it waits for the link, not for a growing backoff", async () => {
  let linkUp = true;
  const platform = scriptedPlatform((_call, calls) => {
    if (calls.length <= 3) {
      linkUp = false; // the link drops while the part is on its way
      return new PlatformError("WeCom connection interrupted", {
        platform: "test",
        code: "interrupted",
        retryable: true,
      });
    }
    return SENT;
  });
  await using t = setup(platform, { connected: () => linkUp, backoffMs: 60_000 });
  await reply(t.store, "team", ["through the drops"]);
  t.outbox.kick();
  for (let drop = 1; drop <= 3; drop++) {
    await until(`try ${drop}`, () => platform.calls.length === drop);
    await until(
      "the failure recorded",
      async () => (await t.store.openParts())[0]?.state === "failed",
    );
    assert.equal(platform.calls.length, drop, "no try while the link is down");
    linkUp = true;
    t.outbox.kick(); // the link is back
  }
  await until("sent once the link held", async () => (await t.store.openParts()).length === 0);
  assert.equal(platform.calls.length, 4, "each return of the link brought one try, at once");
  assert.deepEqual(platform.calls.map((c) => c.context.attempt), [1, 2, 3, 4]);
});
