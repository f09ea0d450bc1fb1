import assert from "node:assert/strict";
import { ROOT, runHermes, tempDir } from "../_helpers.ts";
import { startGateway, waitFor } from "../gateway/_gateway.ts";

/**
 * A plugin written only against mod.ts. At connect it emits the messages in
 * `settings.messages`; its sends behave as `settings.mode` says, and every
 * call is written to sends.jsonl:
 * - `retry`: the first try of every part is refused, retryable, retryAfterMs 300;
 * - `defer`: group sends are deferred until the next inbound message, which
 *   the plugin emits (with a fresh reply context) once it has deferred one;
 * - `permanent`: sends to the chat `blocked` are refused for good.
 */
const PLUGIN = `
import { PlatformError } from "file://${ROOT}mod.ts";

export const platform = {
  name: "flaky",
  description: "a platform that says no in the ways real ones do",
  enabled: () => true,
  create(context) {
    const log = context.stateDir + "/sends.jsonl";
    const mode = context.settings.mode;
    let sent = 0;
    let deferred = false;
    const emit = (id, chatType, chatId, text, replyContext) =>
      context.emit({
        messageId: id,
        source: { platform: "flaky", chatType, chatId, userId: "u-" + chatId },
        text,
        receivedAt: new Date().toISOString(),
        replyContext,
      });
    return {
      name: "flaky",
      capabilities: { streaming: "final", maxMessageLength: 40 },
      async connect() {
        context.health.set("subscribed");
        for (const [id, chatType, chatId, text, replyContext] of context.settings.messages) {
          await emit(id, chatType, chatId, text, replyContext);
        }
      },
      async disconnect() {},
      async send(to, message, ctx) {
        const record = { chat: to.chatId, text: message.text, key: ctx.idempotencyKey,
          attempt: ctx.attempt, replyContext: ctx.replyContext ?? null, at: Date.now() };
        await Deno.writeTextFile(log, JSON.stringify(record) + "\\n", { append: true });
        if (mode === "retry" && ctx.attempt === 1) {
          throw new PlatformError("Too Many Requests", { platform: "flaky", code: 429,
            retryable: true, retryAfterMs: 300 });
        }
        if (mode === "permanent" && to.chatId === "blocked") {
          throw new PlatformError("Forbidden: bot was blocked by the user", { platform: "flaky",
            code: 403, retryable: false });
        }
        if (mode === "defer" && to.chatType === "group" && !context.settings.released) {
          if (!deferred) {
            deferred = true;
            setTimeout(() => {
              context.settings.released = true;
              emit("g-2", "group", "team", "second question", { req_id: "r-2" });
            }, 200);
          }
          return { status: "deferred", until: "next_inbound", reason: "no usable req_id" };
        }
        return { status: "sent", messageId: "f-" + ++sent };
      },
      health: () => context.health.snapshot(),
    };
  },
};
`;

interface Send {
  chat: string;
  text: string;
  key: string;
  attempt: number;
  replyContext: unknown;
  at: number;
}

async function flakyHome(mode: string, messages: unknown[][]) {
  const home = tempDir();
  await Deno.mkdir(`${home.path}/plugins`);
  await Deno.writeTextFile(`${home.path}/plugins/flaky.js`, PLUGIN);
  await Deno.writeTextFile(
    `${home.path}/config.yaml`,
    [
      "plugins: [plugins/flaky.js]",
      "platforms:",
      "  flaky:",
      `    mode: ${mode}`,
      "    allow_all_users: true",
      `    messages: ${JSON.stringify(messages)}`,
    ].join("\n") + "\n",
  );
  return home;
}

async function sends(home: string): Promise<Send[]> {
  const text = await Deno.readTextFile(`${home}/platforms/flaky/sends.jsonl`).catch(() => "");
  return text.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Send);
}

const LONG = "a reply long enough to need two parts of forty characters each";

Deno.test("a plugin refusing every first try (retryable, 300 ms) gets every part exactly once, and no user sees an error", async () => {
  await using home = await flakyHome("retry", [
    ["d-1", "dm", "ann", LONG, null],
    ["d-2", "dm", "bob", "short one", null],
  ]);
  await using gateway = await startGateway(home.path);
  let calls: Send[] = [];
  await waitFor("every part sent", async () => {
    calls = await sends(home.path);
    const keys = new Set(calls.map((c) => c.key));
    return keys.size === 3 &&
      [...keys].every((k) => calls.some((c) => c.key === k && c.attempt === 2));
  });
  for (const key of new Set(calls.map((c) => c.key))) {
    const tries = calls.filter((c) => c.key === key);
    assert.deepEqual(
      tries.map((c) => c.attempt),
      [1, 2],
      `${key} was delivered once, on its retry`,
    );
    assert.ok(
      tries[1]!.at - tries[0]!.at >= 300,
      `${key} retried after ${tries[1]!.at - tries[0]!.at} ms`,
    );
  }
  const delivered = (chat: string) =>
    calls.filter((c) => c.chat === chat && c.attempt === 2).map((c) => c.text).join(" ");
  assert.equal(delivered("ann"), LONG, "the parts, joined, are the whole reply");
  assert.equal(delivered("bob"), "short one");
  assert.ok(!calls.some((c) => /Sorry|error/i.test(c.text)), "no error reached a user");
  void gateway;
});

Deno.test("a group reply the plugin defers until the next message goes out first, with that message's reply context", async () => {
  await using home = await flakyHome("defer", [["g-1", "group", "team", "first question", {
    req_id: "r-1",
  }]]);
  await using gateway = await startGateway(home.path);
  let calls: Send[] = [];
  await waitFor("both answers sent", async () => {
    calls = await sends(home.path);
    return calls.filter((c) =>
      c.replyContext && (c.replyContext as { req_id: string }).req_id === "r-2"
    )
      .length === 2;
  });
  assert.deepEqual(
    calls.map((c) => [c.text, (c.replyContext as { req_id: string }).req_id]),
    [
      ["first question", "r-1"], // deferred: no usable req_id
      ["first question", "r-2"], // held reply first, with the new message's context
      ["second question", "r-2"], // then the new message's own reply
    ],
  );
  void gateway;
});

Deno.test("a permanent refusal is tried once, counted as undeliverable in gateway status, and other chats are served", async () => {
  await using home = await flakyHome("permanent", [
    ["b-1", "dm", "blocked", "hello?", null],
    ["b-2", "dm", "fine", "hello!", null],
  ]);
  await using gateway = await startGateway(home.path);
  await waitFor(
    "the other chat served",
    async () => (await sends(home.path)).some((c) => c.chat === "fine"),
  );
  let status: { outbox?: { undeliverable: number } } = {};
  await waitFor("the status to count it", async () => {
    const result = await runHermes(["gateway", "status", "--json"], { home: home.path });
    status = JSON.parse(result.stdout);
    return status.outbox?.undeliverable === 1;
  });
  const calls = await sends(home.path);
  assert.equal(calls.filter((c) => c.chat === "blocked").length, 1, "tried once");
  const log = await Deno.readTextFile(`${home.path}/logs/gateway.log`);
  assert.match(log, /a reply part is undeliverable.*"code":"403"/);
  const human = await runHermes(["gateway", "status"], { home: home.path });
  assert.match(human.stdout, /outbox: 0 to send, 0 deferred, 0 retrying, 1 undeliverable/);
  void gateway;
});
