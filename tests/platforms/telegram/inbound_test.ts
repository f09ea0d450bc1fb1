import assert from "node:assert/strict";
import {
  mayContinue,
  messageRuns,
  readUpdate,
  type TgMessage,
} from "../../../lib/platforms/telegram/inbound.ts";

const ME = { id: 7000, username: "hermes_bot" };
const ALICE = { id: 42, first_name: "Alice", last_name: "Liddell", username: "alice" };
const GROUP = { id: -1001234, type: "supergroup" as const };

function message(fields: Partial<TgMessage>): TgMessage {
  return {
    message_id: 5,
    date: 1_780_000_000,
    chat: { id: 42, type: "private" },
    from: ALICE,
    ...fields,
  };
}

function read(fields: Partial<TgMessage>, requireMention = true, edited = false) {
  const m = message(fields);
  return readUpdate(
    edited ? { update_id: 1, edited_message: m } : { update_id: 1, message: m },
    ME,
    {
      requireMention,
    },
  );
}

function event(fields: Partial<TgMessage>, requireMention = true) {
  const reading = read(fields, requireMention);
  assert.equal(reading.kind, "event", reading.kind === "skip" ? reading.why : "");
  return (reading as Extract<typeof reading, { kind: "event" }>).event;
}

Deno.test("a DM becomes an event of the user's chat, with its sender's name and the message as reply context", () => {
  const e = event({ text: "hello" });
  assert.deepEqual(e.source, { platform: "telegram", chatType: "dm", chatId: "42", userId: "42" });
  assert.equal(e.messageId, "42:5");
  assert.equal(e.text, "hello");
  assert.equal(e.senderName, "Alice Liddell");
  assert.equal(e.receivedAt, "2026-05-28T20:26:40.000Z");
  assert.deepEqual(e.replyContext, { message_id: 5 });
});

Deno.test("an edited message is an edit with an id of its own", () => {
  const reading = read({ text: "hello!", edit_date: 1_780_000_060 }, true, true);
  assert.ok(reading.kind === "event");
  assert.equal(reading.event.kind, "edit");
  assert.equal(reading.event.messageId, "42:5:edit:1780000060");
});

Deno.test("in a group, only what addresses the bot is taken while require_mention is on", async (t) => {
  const cases: Array<[string, Partial<TgMessage>, boolean]> = [
    ["/cmd@hermes_bot args", {
      text: "/status@hermes_bot now",
      entities: [{ type: "bot_command", offset: 0, length: 18 }],
    }, true],
    [
      "a bare /cmd",
      { text: "/status", entities: [{ type: "bot_command", offset: 0, length: 7 }] },
      true,
    ],
    ["an @mention (any case)", {
      text: "hey @Hermes_Bot look",
      entities: [{ type: "mention", offset: 4, length: 11 }],
    }, true],
    ["a text_mention of the bot", {
      text: "hey Hermes",
      entities: [{ type: "text_mention", offset: 4, length: 6, user: { id: 7000 } }],
    }, true],
    ["a reply to the bot", {
      text: "yes",
      reply_to_message: message({
        message_id: 4,
        from: { id: 7000, is_bot: true },
        text: "Shall I?",
      }),
    }, true],
    ["a plain message", { text: "lunch anyone?" }, false],
    ["an @mention of someone else", {
      text: "@bob hi",
      entities: [{ type: "mention", offset: 0, length: 4 }],
    }, false],
    ["a reply to someone else", {
      text: "yes",
      reply_to_message: message({ message_id: 4, from: { id: 99 }, text: "?" }),
    }, false],
    ["the bot's name as raw text only", { text: "@hermes_bot is great" }, false],
    ["a plain message in a forum topic the bot opened", {
      text: "lunch anyone?",
      message_thread_id: 4,
      is_topic_message: true,
      // Telegram makes every topic message a reply to the topic's first (service) message.
      reply_to_message: message({ message_id: 4, from: { id: 7000, is_bot: true } }),
    }, false],
  ];
  for (const [name, fields, taken] of cases) {
    await t.step(name, () => {
      assert.equal(read({ chat: GROUP, ...fields }).kind === "event", taken);
    });
  }
  await t.step("with require_mention off, a plain group message is taken", () => {
    assert.equal(read({ chat: GROUP, text: "lunch anyone?" }, false).kind, "event");
  });
});

Deno.test("/cmd@bot reaches the gateway as /cmd; a command for another bot is skipped", () => {
  const e = event({
    chat: GROUP,
    text: "/status@hermes_bot now",
    entities: [{ type: "bot_command", offset: 0, length: 18 }],
  });
  assert.equal(e.text, "/status now");
  assert.equal(e.source.chatType, "group");
  const other = read({
    chat: GROUP,
    text: "/status@other_bot",
    entities: [{ type: "bot_command", offset: 0, length: 17 }],
  }, false);
  assert.deepEqual(other, { kind: "skip", why: "a command for @other_bot" });
});

Deno.test("a thread id keys the session only in a forum topic, never on a plain reply chain", () => {
  const topic = event({
    chat: { ...GROUP, is_forum: true },
    text: "/x",
    entities: [{ type: "bot_command", offset: 0, length: 2 }],
    message_thread_id: 77,
    is_topic_message: true,
  });
  assert.equal(topic.source.threadId, "77");
  const chain = event({
    chat: GROUP,
    text: "/x",
    entities: [{ type: "bot_command", offset: 0, length: 2 }],
    message_thread_id: 77,
  });
  assert.equal(chain.source.threadId, undefined);
});

Deno.test("a photo brings its largest size, a document its name; a caption is the text", () => {
  const reading = read({
    caption: "look",
    photo: [{ file_id: "small", file_size: 100 }, { file_id: "big", file_size: 9_000 }],
  });
  assert.ok(reading.kind === "event");
  assert.equal(reading.event.text, "look");
  assert.deepEqual(reading.files, [{ fileId: "big", kind: "image", size: 9_000 }]);
  const doc = read({
    document: {
      file_id: "d1",
      file_name: "report.pdf",
      mime_type: "application/pdf",
      file_size: 10,
    },
  });
  assert.ok(doc.kind === "event");
  assert.deepEqual(doc.files, [{ fileId: "d1", kind: "file", name: "report.pdf", size: 10 }]);
});

Deno.test("service messages, other bots and updates without a message are skipped", () => {
  assert.equal(read({ migrate_to_chat_id: -100999 }).kind, "skip");
  assert.equal(read({ text: "hi", from: { id: 8, is_bot: true } }).kind, "skip");
  assert.equal(readUpdate({ update_id: 3 }, ME, { requireMention: true }).kind, "skip");
});

Deno.test("an album's items and the pieces of a split long text make one run; anything else its own", () => {
  const update = (id: number, fields: Partial<TgMessage>) => ({
    update_id: id,
    message: message({ message_id: id, ...fields }),
  });
  const long = "x".repeat(4096);
  const runs = messageRuns([
    update(1, { text: long }),
    update(2, { text: "and the rest" }),
    update(3, { text: "a new message" }),
    update(4, { media_group_id: "g1", photo: [{ file_id: "a" }], caption: "two pictures" }),
    update(5, { media_group_id: "g1", photo: [{ file_id: "b" }] }),
    update(6, { media_group_id: "g2", photo: [{ file_id: "c" }] }),
    update(7, { text: long, from: { id: 99, first_name: "Someone else" } }),
    update(8, { text: long }),
    update(9, { text: "a reply a minute later", date: 1_780_000_060 }),
  ]);
  assert.deepEqual(runs.map((run) => run.map((u) => u.update_id)), [
    [1, 2],
    [3],
    [4, 5],
    [6],
    [7],
    [8],
    [9],
  ]);
  assert.equal(mayContinue([update(1, { text: long })]), true, "more of a long text may come");
  assert.equal(
    mayContinue([update(1, { media_group_id: "g" })]),
    true,
    "more of an album may come",
  );
  assert.equal(mayContinue([update(1, { text: "short" })]), false);
});

Deno.test("an anonymous admin's message is taken, the group as its sender", () => {
  const e = event({
    chat: GROUP,
    from: { id: 1087968824, is_bot: true, first_name: "Group" },
    sender_chat: { id: GROUP.id },
    text: "/status@hermes_bot",
    entities: [{ type: "bot_command", offset: 0, length: 18 }],
  });
  assert.equal(e.source.userId, String(GROUP.id));
});
