import assert from "node:assert/strict";
import { UsageError } from "../../lib/errors.ts";
import {
  parseTarget,
  sendMessage,
  type SendMessageOptions,
} from "../../lib/gateway/operator_send.ts";
import { Outbox } from "../../lib/gateway/outbox.ts";
import type { Capabilities, PlatformAdapter } from "../../lib/platforms/adapter.ts";
import type {
  OutboundMessage,
  SendContext,
  SendResult,
  SessionSource,
} from "../../lib/platforms/event.ts";
import { LinkHealthTracker } from "../../lib/platforms/health.ts";
import { openSqliteStateStore } from "../../lib/storage/sqlite/state_store.ts";
import { Logger } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";
import { tempDir } from "../_helpers.ts";

interface Call {
  readonly to: SessionSource;
  readonly text: string;
  readonly context: SendContext;
}

/** A platform that sends everything but to the chats in `state.hold`: those it defers. */
function platform(capabilities: Partial<Capabilities> = {}) {
  const calls: Call[] = [];
  const state = { hold: new Set<string>() };
  const adapter: PlatformAdapter = {
    name: "test",
    capabilities: { streaming: "final", maxMessageLength: 1000, ...capabilities },
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    send(to: SessionSource, message: OutboundMessage, context: SendContext) {
      calls.push({ to, text: message.text, context });
      const result: SendResult = state.hold.has(to.chatId)
        ? { status: "deferred", until: "next_inbound", reason: "no reply context" }
        : { status: "sent", messageId: `p${calls.length}` };
      return Promise.resolve(result);
    },
    health: () => new LinkHealthTracker().snapshot(),
  };
  return { adapter, calls, state };
}

function setup(test: ReturnType<typeof platform>, options: { connected?: () => boolean } = {}) {
  const dir = tempDir();
  const store = openSqliteStateStore(`${dir.path}/state.db`);
  const log = new Logger({ level: "error", sinks: [], masker: new SecretMasker() });
  const isConnected = options.connected ?? (() => true);
  const outbox = new Outbox({ store, adapter: () => test.adapter, isConnected, log });
  const send: SendMessageOptions = {
    store,
    outbox,
    adapter: (name) => (name === "test" ? test.adapter : undefined),
    isConnected,
    enabled: ["test"],
    registered: ["test", "local"],
    deadline: () => new Date(Date.now() + 60_000).toISOString(),
    log,
    waitMs: 5_000,
  };
  return {
    store,
    outbox,
    send,
    async [Symbol.asyncDispose]() {
      await outbox.stop();
      store.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

let counter = 0;
function inbound(source: Partial<SessionSource>, text = "question") {
  return {
    messageId: `in-${++counter}`,
    source: { platform: "test", chatType: "dm" as const, chatId: "alice", ...source },
    text,
    receivedAt: new Date().toISOString(),
  };
}

Deno.test("parseTarget() splits at the first colon and refuses a missing part", () => {
  assert.deepEqual(parseTarget("WeCom:wr:room:1"), { platform: "wecom", chatId: "wr:room:1" });
  assert.deepEqual(parseTarget(" local : alice "), { platform: "local", chatId: "alice" });
  for (
    const [target, why] of [["alice", /expected PLATFORM:CHAT_ID/], [":a", /platform is empty/], [
      "local: ",
      /chat id is empty/,
    ]] as const
  ) {
    assert.throws(
      () => parseTarget(target),
      (error) => error instanceof UsageError && why.test(error.message),
    );
  }
});

Deno.test("sendMessage() sends to the chat as last heard from: its type and thread, no one user", async () => {
  const test = platform();
  await using t = setup(test);
  await t.store.acceptInbound(
    inbound({ chatType: "group", chatId: "team", threadId: "t-9", userId: "bob" }),
    "k:team",
  );
  const answer = await sendMessage({ target: "test:team", text: "Deploy done" }, t.send);
  assert.deepEqual(answer.parts.map((p) => [p.state, p.platformMessageId]), [["sent", "p1"]]);
  assert.deepEqual(test.calls.map((c) => [c.to, c.text, c.context.inReplyTo]), [[
    { platform: "test", chatType: "group", chatId: "team", threadId: "t-9" },
    "Deploy done",
    undefined,
  ]]);
  await sendMessage({ target: "test:carol", text: "hi" }, t.send);
  assert.deepEqual(test.calls[1]!.to, {
    platform: "test",
    chatType: "dm",
    chatId: "carol",
    userId: "carol",
  });
});

Deno.test("sendMessage() cuts a long text by the platform's limit and unit, like a reply", async () => {
  const test = platform({ maxMessageLength: 12, lengthUnit: "bytes" });
  await using t = setup(test);
  const answer = await sendMessage(
    { target: "test:alice", text: "你好世界。再见世界。", format: "markdown" },
    t.send,
  );
  assert.ok(answer.parts.length >= 2, `${answer.parts.length} parts`);
  assert.ok(answer.parts.every((p) => new TextEncoder().encode(p.text).length <= 12));
  assert.ok(answer.parts.every((p) => p.format === "markdown"));
  assert.equal(answer.parts.map((p) => p.text).join(""), "你好世界。再见世界。");
});

Deno.test("sendMessage() answers at once when nothing can go: the link is down, or the chat waits to speak", async (t) => {
  await t.step("the link is down", async () => {
    const test = platform();
    await using s = setup(test, { connected: () => false });
    const started = performance.now();
    const answer = await sendMessage({ target: "test:alice", text: "hi" }, s.send);
    assert.ok(performance.now() - started < 1_000, "did not wait for a try");
    assert.deepEqual([answer.parts[0]!.state, answer.connected, answer.heldBy], [
      "queued",
      false,
      null,
    ]);
  });

  await t.step("an earlier part waits for the chat's next message", async () => {
    const test = platform();
    test.state.hold.add("team");
    await using s = setup(test);
    const first = await sendMessage({ target: "test:team", text: "one" }, s.send);
    assert.deepEqual(
      [first.parts[0]!.state, first.parts[0]!.waitingForInbound],
      ["deferred", true],
    );
    const started = performance.now();
    const second = await sendMessage({ target: "test:team", text: "two" }, s.send);
    assert.ok(performance.now() - started < 1_000, "did not wait for a try");
    assert.equal(second.parts[0]!.state, "queued");
    assert.equal(second.heldBy?.id, first.parts[0]!.id);

    test.state.hold.clear();
    await s.store.admitInbound(
      (await s.store.acceptInbound(inbound({ chatId: "team" }), "k:team"))!,
    );
    const sent = s.outbox.whenTried(second.parts[0]!.id, 5_000);
    s.outbox.kick(second.parts[0]!.chatKey);
    assert.equal(await sent, true);
    assert.deepEqual(test.calls.map((c) => c.text), ["one", "one", "two"], "in order");
  });
});

Deno.test("sendMessage() refuses a platform not enabled, an empty text and an unknown format", async () => {
  await using t = setup(platform());
  const refused = (params: Record<string, unknown>, why: RegExp) =>
    assert.rejects(
      sendMessage(params, t.send),
      (error) => error instanceof UsageError && why.test(error.message),
    );
  await refused(
    { target: "local:alice", text: "hi" },
    /platform "local" is not enabled \(enabled: test\)/,
  );
  await refused({ target: "tset:alice", text: "hi" }, /there is no platform "tset"/);
  await refused({ target: "test:alice", text: " \n" }, /empty message/);
  await refused({ target: "test:alice", text: "hi", format: "html" }, /format "html"/);
  await refused({ text: "hi" }, /"target" must be a string/);
  assert.deepEqual(await t.store.openParts(), [], "nothing was stored");
});
