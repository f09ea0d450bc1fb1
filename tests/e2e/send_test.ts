import assert from "node:assert/strict";
import { ROOT, runHermes, tempDir } from "../_helpers.ts";
import { startGateway, waitFor } from "../gateway/_gateway.ts";

/**
 * A plugin written only against mod.ts. At connect it emits the messages in
 * `settings.messages`; every send is written to sends.jsonl, and answered by
 * the chat it goes to:
 * - `blocked`: refused for good (403);
 * - `busy`: the first try refused, retryable, retry after a minute (429);
 * - `team`: deferred until the chat's next message, until the chat has
 *   spoken to this gateway;
 * - any other: sent, as `r-<n>`.
 */
const PLUGIN = `
import { PlatformError } from "file://${ROOT}mod.ts";

export const platform = {
  name: "relay",
  description: "a platform that answers sends by the chat they go to",
  enabled: () => true,
  create(context) {
    const log = context.stateDir + "/sends.jsonl";
    const spoken = new Set();
    let sent = 0;
    return {
      name: "relay",
      capabilities: { streaming: "final", maxMessageLength: 40 },
      async connect() {
        context.health.set("subscribed");
        for (const [id, chatType, chatId, text, replyContext] of context.settings.messages) {
          spoken.add(chatId);
          await context.emit({
            messageId: id,
            source: { platform: "relay", chatType, chatId, userId: "u-" + chatId },
            text,
            receivedAt: new Date().toISOString(),
            replyContext,
          });
        }
      },
      async disconnect() {},
      async send(to, message, ctx) {
        const record = { chat: to.chatId, chatType: to.chatType, userId: to.userId ?? null,
          text: message.text, key: ctx.idempotencyKey, attempt: ctx.attempt,
          replyContext: ctx.replyContext ?? null, inReplyTo: ctx.inReplyTo ?? null };
        await Deno.writeTextFile(log, JSON.stringify(record) + "\\n", { append: true });
        if (to.chatId === "blocked") {
          throw new PlatformError("Forbidden: bot was blocked by the user", { platform: "relay",
            code: 403, retryable: false });
        }
        if (to.chatId === "busy" && ctx.attempt === 1) {
          throw new PlatformError("Too Many Requests", { platform: "relay", code: 429,
            retryable: true, retryAfterMs: 60000 });
        }
        if (to.chatId === "team" && !spoken.has("team")) {
          return { status: "deferred", until: "next_inbound", reason: "no reply context yet" };
        }
        return { status: "sent", messageId: "r-" + ++sent };
      },
      health: () => context.health.snapshot(),
    };
  },
};
`;

interface Send {
  chat: string;
  chatType: string;
  userId: string | null;
  text: string;
  key: string;
  attempt: number;
  replyContext: unknown;
  inReplyTo: string | null;
}

async function writeConfig(home: string, messages: unknown[][]) {
  await Deno.mkdir(`${home}/plugins`, { recursive: true });
  await Deno.writeTextFile(`${home}/plugins/relay.js`, PLUGIN);
  await Deno.writeTextFile(
    `${home}/config.yaml`,
    [
      "plugins: [plugins/relay.js]",
      "platforms:",
      "  relay:",
      "    allow_all_users: true",
      `    messages: ${JSON.stringify(messages)}`,
    ].join("\n") + "\n",
  );
}

async function sends(home: string): Promise<Send[]> {
  const text = await Deno.readTextFile(`${home}/platforms/relay/sends.jsonl`).catch(() => "");
  return text.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Send);
}

const LONG = "a notice long enough to need two parts of forty characters each";

Deno.test("hermes send hands a message to the running gateway, which sends it once to the chat as it knows it", async (t) => {
  await using home = tempDir();
  await writeConfig(home.path, [["g-1", "group", "room", "hi all", null]]);
  await using gateway = await startGateway(home.path);
  await waitFor(
    "the reply to the room",
    async () => (await sends(home.path)).some((s) => s.text === "hi all"),
  );
  const send = (args: string[], stdin?: string) =>
    runHermes(["send", ...args], { home: home.path, stdin });

  await t.step("a chat heard from before: its type, no user; sent at once", async () => {
    const result = await send(["relay:room", "Deploy finished"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^sent: r-\d+\n$/);
    const got = (await sends(home.path)).filter((s) => s.text === "Deploy finished");
    assert.equal(got.length, 1, "exactly once");
    assert.deepEqual([got[0]!.chat, got[0]!.chatType, got[0]!.userId, got[0]!.inReplyTo], [
      "room",
      "group",
      null,
      null,
    ]);
    assert.match(got[0]!.key, /^inbound:\d+#0$/);
  });

  await t.step("a chat never heard from (its id holding a colon) is a DM", async () => {
    const result = await send(["relay:wr:42", "hello"]);
    assert.equal(result.code, 0, result.stderr);
    const got = (await sends(home.path)).filter((s) => s.text === "hello");
    assert.deepEqual(got.map((s) => [s.chat, s.chatType, s.userId]), [["wr:42", "dm", "wr:42"]]);
  });

  await t.step(
    "- reads standard input; a long text goes as parts; --json prints the rows",
    async () => {
      const result = await send(["relay:bob", "-", "--json"], `${LONG}\n`);
      assert.equal(result.code, 0, result.stderr);
      const rows = JSON.parse(result.stdout) as {
        part: number;
        state: string;
        text: string;
        idempotencyKey: string;
        inboundId: number;
        platformMessageId: string;
      }[];
      assert.deepEqual(rows.map((r) => r.part), [0, 1]);
      assert.equal(rows[0]!.state, "sent");
      assert.match(rows[0]!.platformMessageId, /^r-\d+$/);
      assert.deepEqual(
        rows.map((r) => r.idempotencyKey),
        [`inbound:${rows[0]!.inboundId}#0`, `inbound:${rows[0]!.inboundId}#1`],
      );
      await waitFor(
        "the second part",
        async () => (await sends(home.path)).filter((s) => s.chat === "bob").length === 2,
      );
      const got = (await sends(home.path)).filter((s) => s.chat === "bob");
      assert.equal(got.map((s) => s.text).join(" "), LONG, "the parts, joined, are the text");
    },
  );

  await t.step("a retryable refusal: queued, with the time of the retry and the code", async () => {
    const result = await send(["relay:busy", "ping"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /^queued: will retry at \d{4}-\d\d-\d\dT[\d:.]+Z \(429: Too Many Requests\)\n$/,
    );
  });

  await t.step("a permanent refusal: undeliverable, exit 1", async () => {
    const result = await send(["relay:blocked", "ping"]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "undeliverable: 403: Forbidden: bot was blocked by the user\n");
  });

  await t.step(
    "a platform that is not enabled, or none of that name: exit 2 naming the enabled ones",
    async () => {
      const local = await send(["local:alice", "hi"]);
      assert.equal(local.code, 2);
      assert.match(local.stderr, /platform "local" is not enabled \(enabled: relay\)/);
      const typo = await send(["relya:bob", "hi"]);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /there is no platform "relya" \(enabled: relay\)/);
      assert.match(typo.stderr, /hint: did you mean "relay:bob"\?/);
    },
  );

  await t.step("an empty text is refused, exit 2", async () => {
    const result = await send(["relay:bob", "  "]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Cannot send an empty message/);
  });

  const calls = await sends(home.path);
  assert.equal(calls.filter((s) => s.chat === "blocked").length, 1, "tried once");
  assert.equal(calls.filter((s) => s.chat === "busy").length, 1, "its retry is a minute away");
  const agentSaw = await runHermes(["sessions", "search", "Deploy", "--json"], {
    home: home.path,
  });
  assert.deepEqual(JSON.parse(agentSaw.stdout), [], "no transcript holds an operator's message");
  assert.equal(agentSaw.stderr, "", "and none waits for the indexer");
  void gateway;
});

Deno.test("a send the platform defers waits for the chat's next message, survives a kill, and goes before the reply", async () => {
  await using home = tempDir();
  await writeConfig(home.path, []);
  {
    await using gateway = await startGateway(home.path);
    const result = await runHermes(["send", "relay:team", "heads up"], { home: home.path });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "queued: waiting for the chat's next message\n");
    void gateway; // killed (SIGKILL) here: the part is only in state.db
  }
  const down = await runHermes(["send", "relay:team", "anyone?"], { home: home.path });
  assert.equal(down.code, 1);
  assert.equal(
    down.stderr,
    `hermes: No gateway is running in ${home.path}: start it with "hermes gateway run", then send again\n`,
  );

  await writeConfig(home.path, [["t-1", "group", "team", "what's new?", { req_id: "r-1" }]]);
  await using gateway = await startGateway(home.path);
  await waitFor(
    "the reply to the chat's message",
    async () => (await sends(home.path)).some((s) => s.text === "what's new?"),
  );
  const team = (await sends(home.path)).filter((s) => s.chat === "team");
  assert.deepEqual(
    team.map((s) => [s.text, s.attempt, s.replyContext, s.inReplyTo]),
    [
      ["heads up", 1, null, null], // deferred: the chat had not spoken
      ["heads up", 2, { req_id: "r-1" }, null], // woken by the chat's message, sent before the reply
      ["what's new?", 1, { req_id: "r-1" }, "t-1"],
    ],
  );
  assert.equal(team[0]!.key, team[1]!.key, "the same key across the restart");
  void gateway;
});

Deno.test("hermes send without a gateway exits 1 naming the home; a bad target exits 2 before asking", async (t) => {
  await using home = tempDir();
  const result = await runHermes(["send", "local:alice", "hi"], { home: home.path });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `hermes: No gateway is running in ${home.path}: start it with "hermes gateway run", then send again\n`,
  );
  assert.equal(result.stdout, "");
  for (const target of ["alice", ":alice", "local:", " : "]) {
    await t.step(`"${target}"`, async () => {
      const bad = await runHermes(["send", target, "hi"], { home: home.path });
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /^hermes: Invalid target "[^"]*": /);
      assert.match(bad.stderr, /hint: hermes send local:alice/);
    });
  }
  const empty = await runHermes(["send", "local:alice", "-"], { home: home.path, stdin: "\n" });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /standard input was empty/);
});
