import assert from "node:assert/strict";
import { call, type Encoding, read } from "./_telegram_test_helpers.ts";
import { Faults, TelegramServer } from "./telegram_server.ts";

interface MemberUpdate {
  old_chat_member: { status: string };
  new_chat_member: { status: string };
}

Deno.test("every encoding of the parameters reaches the method, and method names ignore case", async (t) => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser({ first_name: "Ada" });
  for (const via of ["json", "query", "form", "multipart"] as Encoding[]) {
    await t.step(via, async () => {
      const reply = await call(tg, "SENDmessage", {
        chat_id: ada.id,
        text: `via ${via}`,
        reply_markup: { inline_keyboard: [[{ text: "ok", callback_data: "x" }]] },
      }, via);
      assert.equal(reply.status, 200);
      assert.equal(reply.json.ok, true);
      assert.equal(reply.json.result.text, `via ${via}`);
      assert.deepEqual(reply.json.result.reply_markup.inline_keyboard[0][0].text, "ok");
    });
  }
  assert.deepEqual(tg.outboundOf("sendMessage").map((c) => c.params.text), [
    "via json",
    "via query",
    "via form",
    "via multipart",
  ]);
  assert.deepEqual(tg.messages(ada.id).map((m) => m.message_id), [1, 2, 3, 4]);
});

Deno.test("the envelope: HTTP status = error_code, parameters only when present, Retry-After on 429", async () => {
  await using tg = await TelegramServer.start();
  const ok = await call(tg, "getMe");
  assert.deepEqual(Object.keys(ok.json), ["ok", "result"]);
  const bad = await call(tg, "sendMessage", { chat_id: 42, text: "x" });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json, {
    ok: false,
    error_code: 400,
    description: "Bad Request: chat not found",
  });
  tg.failNext("sendMessage", Faults.tooManyRequests(35));
  const limited = await call(tg, "sendMessage", { chat_id: 42, text: "x" });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "35");
  assert.deepEqual(limited.json, {
    ok: false,
    error_code: 429,
    description: "Too Many Requests: retry after 35",
    parameters: { retry_after: 35 },
  });
});

Deno.test("a wrong token is 401, a malformed one says so, a bad path or method is 404", async () => {
  await using tg = await TelegramServer.start();
  const cases: [string, number, string][] = [
    ["/bot7000000001:wrong/getMe", 401, "Unauthorized"],
    ["/botnot-a-token/getMe", 401, "Unauthorized: invalid token specified"],
    [`/bot${tg.token}/sendTelepathy`, 404, "Not Found: method not found"],
    ["/favicon.ico", 404, "Not Found"],
    [`/bot${tg.token}/`, 404, "Not Found"],
    [`/file/bot${tg.token}/photos/none.jpg`, 404, "Not Found"],
  ];
  for (const [path, status, description] of cases) {
    const reply = await read(await fetch(tg.url + path));
    assert.equal(reply.status, status, path);
    assert.deepEqual(reply.json, { ok: false, error_code: status, description }, path);
  }
});

Deno.test("getMe reports the bot's id, username, privacy and topics settings", async () => {
  await using tg = await TelegramServer.start({
    token: "123456:ABC-def",
    botUsername: "other_bot",
    canReadAllGroupMessages: true,
    hasTopicsEnabled: true,
  });
  const me = (await call(tg, "getme", {}, "query")).json.result;
  assert.equal(me.id, 123456);
  assert.equal(me.is_bot, true);
  assert.equal(me.username, "other_bot");
  assert.equal(me.can_read_all_group_messages, true);
  assert.equal(me.has_topics_enabled, true);
});

Deno.test("inbound: a group /cmd@bot carries a bot_command entity in UTF-16 units, mentions too", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const group = tg.addGroup("Team");
  const { message } = tg.userCommand(group.id, "ask", "😀 café");
  assert.equal(message.chat.type, "group");
  assert.ok(message.chat.id < 0);
  assert.equal(message.from?.id, ada.id);
  assert.equal(message.text, "/ask@hermes_sim_bot 😀 café");
  assert.deepEqual(message.entities, [{ type: "bot_command", offset: 0, length: 19 }]);
  const bare = tg.userCommand(group.id, "ask", "", { addressed: false }).message;
  assert.deepEqual(bare.entities, [{ type: "bot_command", offset: 0, length: 4 }]);
  const mention = tg.userText(group.id, "😀😀 @hermes_sim_bot hi").message;
  assert.deepEqual(mention.entities, [{ type: "mention", offset: 5, length: 15 }]);
  assert.deepEqual(tg.messages(group.id).map((m) => m.message_id), [1, 2, 3]);
});

Deno.test("inbound: a reply to the bot carries reply_to_message one level deep", async () => {
  await using tg = await TelegramServer.start();
  tg.addUser();
  const group = tg.addSupergroup("Big");
  const sent = await call(tg, "sendMessage", { chat_id: group.id, text: "bot says" });
  const first = tg.userText(group.id, "reply 1", { replyTo: sent.json.result.message_id }).message;
  const second = tg.userText(group.id, "reply 2", { replyTo: first.message_id }).message;
  const replied = first.reply_to_message as Record<string, unknown>;
  assert.equal(replied.text, "bot says");
  assert.equal((replied.from as { is_bot: boolean }).is_bot, true);
  const nested = second.reply_to_message as Record<string, unknown>;
  assert.equal(nested.text, "reply 1");
  assert.equal(nested.reply_to_message, undefined, "one level only");
  assert.equal(
    second.message_thread_id,
    sent.json.result.message_id,
    "a plain reply chain gets a thread id",
  );
  assert.equal(second.is_topic_message, undefined);
});

Deno.test("inbound: forum topic messages carry message_thread_id and is_topic_message", async () => {
  await using tg = await TelegramServer.start();
  tg.addUser();
  const forum = tg.addSupergroup("Forum", { forum: true });
  const topic = tg.createTopic(forum.id, "Ideas");
  assert.notEqual(topic, 1, "thread 1 is General");
  const inTopic = tg.userText(forum.id, "in topic", { threadId: topic }).message;
  assert.equal(inTopic.message_thread_id, topic);
  assert.equal(inTopic.is_topic_message, true);
  const general = tg.userText(forum.id, "in general").message;
  assert.equal(general.message_thread_id, undefined);
  const [created] = tg.pendingUpdates();
  assert.deepEqual(created?.message?.forum_topic_created, { name: "Ideas", icon_color: 7322096 });
});

Deno.test("inbound: edits queue edited_message; the original update keeps its text", async () => {
  const t0 = Date.UTC(2026, 0, 1);
  await using tg = await TelegramServer.start({ clock: () => t0 });
  const ada = tg.addUser();
  const { message } = tg.userText(ada.id, "first");
  tg.advanceClock(5000);
  tg.userEdit(ada.id, message.message_id, "second /help");
  const [original, edited] = tg.pendingUpdates();
  assert.equal(original?.message?.text, "first");
  assert.equal(edited?.edited_message?.text, "second /help");
  assert.equal(edited?.edited_message?.edit_date, t0 / 1000 + 5);
  assert.deepEqual(edited?.edited_message?.entities, [{
    type: "bot_command",
    offset: 7,
    length: 5,
  }]);
  assert.equal(edited?.update_id, (original?.update_id ?? 0) + 1);
});

Deno.test("inbound media: photo sizes smallest first, document and voice bytes served via getFile", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const jpeg = crypto.getRandomValues(new Uint8Array(4000));
  const photo = tg.inbound({ chat: ada.id, photo: jpeg, text: "look" }).message;
  const sizes = photo.photo as { file_id: string; width: number; file_size: number }[];
  assert.equal(sizes.length, 2);
  assert.ok(sizes[0]!.width < sizes[1]!.width && sizes[0]!.file_size < sizes[1]!.file_size);
  assert.equal(photo.caption, "look");
  const doc = tg.inbound({
    chat: ada.id,
    document: {
      bytes: new TextEncoder().encode("# notes"),
      fileName: "notes.md",
      mimeType: "text/markdown",
    },
  }).message.document as { file_id: string; file_name: string; mime_type: string };
  assert.equal(doc.file_name, "notes.md");
  const voice = tg.inbound({
    chat: ada.id,
    voice: { bytes: new Uint8Array([79, 103, 103, 83]), duration: 3 },
  })
    .message.voice as { file_id: string; duration: number; mime_type: string };
  assert.equal(voice.duration, 3);
  assert.equal(voice.mime_type, "audio/ogg");
  const expected: [string, Uint8Array][] = [
    [sizes[1]!.file_id, jpeg],
    [doc.file_id, new TextEncoder().encode("# notes")],
    [voice.file_id, new Uint8Array([79, 103, 103, 83])],
  ];
  for (const [fileId, bytes] of expected) {
    const file = (await call(tg, "getFile", { file_id: fileId })).json.result;
    assert.equal(file.file_size, bytes.length);
    const download = await fetch(`${tg.fileBase}/${file.file_path}`);
    assert.deepEqual(new Uint8Array(await download.arrayBuffer()), bytes);
  }
  const missing = await call(tg, "getFile", { file_id: "nope" });
  assert.equal(missing.json.description, "Bad Request: invalid file_id");
});

Deno.test("inbound: an album's parts share media_group_id, the caption rides on the first", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const parts = tg.userAlbum(ada.id, [
    new Uint8Array([1]),
    new Uint8Array([2]),
    new Uint8Array([3]),
  ], {
    caption: "trip",
  });
  const ids = new Set(parts.map((p) => p.message.media_group_id));
  assert.equal(ids.size, 1);
  assert.equal(typeof [...ids][0], "string");
  assert.deepEqual(parts.map((p) => p.message.caption), ["trip", undefined, undefined]);
  assert.equal(tg.pendingUpdates().length, 3);
});

Deno.test("block and unblock queue my_chat_member; a send to a blocked chat is 403", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const blocked = tg.block(ada.id);
  assert.deepEqual(
    [blocked?.my_chat_member as MemberUpdate].map((m) => [
      m.old_chat_member.status,
      m.new_chat_member.status,
    ]),
    [["member", "kicked"]],
  );
  const refused = await call(tg, "sendMessage", { chat_id: ada.id, text: "hi" });
  assert.equal(refused.status, 403);
  assert.equal(refused.json.description, "Forbidden: bot was blocked by the user");
  const unblocked = tg.unblock(ada.id)?.my_chat_member as MemberUpdate;
  assert.equal(unblocked.new_chat_member.status, "member");
  assert.equal((await call(tg, "sendMessage", { chat_id: ada.id, text: "hi" })).status, 200);
});

Deno.test("migration: service messages in both chats, then a send to the old id is 400 with migrate_to_chat_id", async () => {
  await using tg = await TelegramServer.start();
  tg.addUser();
  const group = tg.addGroup("Old");
  const newId = tg.migrate(group.id);
  assert.ok(String(newId).startsWith("-100"));
  const [to, from] = tg.pendingUpdates();
  assert.equal(to?.message?.migrate_to_chat_id, newId);
  assert.equal(from?.message?.migrate_from_chat_id, group.id);
  assert.equal(from?.message?.chat.type, "supergroup");
  const reply = await call(tg, "sendMessage", { chat_id: group.id, text: "x" });
  assert.equal(reply.status, 400);
  assert.deepEqual(reply.json, {
    ok: false,
    error_code: 400,
    description: "Bad Request: group chat was upgraded to a supergroup chat",
    parameters: { migrate_to_chat_id: newId },
  });
  assert.equal((await call(tg, "sendMessage", { chat_id: newId, text: "x" })).status, 200);
});

Deno.test("faults: each kind answers once, then the method works again", async (t) => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const send = () => call(tg, "sendMessage", { chat_id: ada.id, text: "x" });
  const cases: [string, Parameters<TelegramServer["failNext"]>[1], number, string?][] = [
    ["parse", Faults.parse(), 400, "Bad Request: can't parse entities: Character '.' is reserved"],
    ["conflict", Faults.conflict, 409, "Conflict: terminated by other getUpdates request"],
    ["internal", Faults.internal, 500, "Internal Server Error"],
    ["unauthorized", Faults.unauthorized, 401, "Unauthorized"],
    ["blocked", Faults.blocked, 403, "Forbidden: bot was blocked by the user"],
    ["migrated", Faults.migrated(-1002000000099), 400, "Bad Request: group chat was upgraded"],
  ];
  for (const [name, fault, status, prefix] of cases) {
    await t.step(name, async () => {
      tg.failNext("sendmessage", fault);
      const reply = await send();
      assert.equal(reply.status, status);
      assert.ok(reply.json.description.startsWith(prefix), reply.json.description);
      assert.equal((await send()).status, 200);
    });
  }
  await t.step("502 from a proxy is not JSON", async () => {
    tg.failNext("sendMessage", Faults.badGateway);
    const reply = await send();
    assert.equal(reply.status, 502);
    assert.equal(reply.json, undefined);
  });
  await t.step("a fault for '*' hits any method; count is honoured", async () => {
    tg.failNext("*", Faults.internal, 2);
    assert.equal((await call(tg, "getMe")).status, 500);
    assert.equal((await send()).status, 500);
    assert.equal((await call(tg, "getMe")).status, 200);
  });
});

Deno.test("faults: a slow answer, a reset before (nothing stored) and applied-then-reset (stored)", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const send = (text: string) => call(tg, "sendMessage", { chat_id: ada.id, text });
  tg.failNext("sendMessage", Faults.slow(200));
  const started = performance.now();
  assert.equal((await send("slow")).status, 200);
  assert.ok(performance.now() - started >= 190);
  tg.failNext("sendMessage", Faults.resetBefore);
  await assert.rejects(send("lost before"));
  tg.failNext("sendMessage", Faults.appliedThenReset);
  await assert.rejects(send("lost after"));
  assert.deepEqual(tg.messages(ada.id).map((m) => m.text), ["slow", "lost after"]);
  assert.equal(tg.requests.at(-1)?.status, undefined, "no answer was written");
});

Deno.test("faults: a stalled getUpdates never answers until the client gives up", async () => {
  await using tg = await TelegramServer.start();
  tg.addUser();
  tg.failNext("getUpdates", Faults.stall);
  tg.userText(1001, "waiting");
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 300);
  await assert.rejects(call(tg, "getUpdates", { timeout: 0 }, "json", controller.signal));
  clearTimeout(timer);
  const next = await call(tg, "getUpdates", { timeout: 0 });
  assert.equal(next.json.result.length, 1);
});

Deno.test("the outbound log records each call with params, time and outcome", async () => {
  const t0 = Date.UTC(2026, 5, 1);
  await using tg = await TelegramServer.start({ clock: () => t0 });
  const ada = tg.addUser();
  await call(tg, "sendMessage", { chat_id: ada.id, text: "one" });
  tg.advanceClock(1500);
  await call(tg, "sendChatAction", { chat_id: ada.id, action: "typing" });
  await call(tg, "sendMessage", { chat_id: ada.id, text: "" });
  assert.deepEqual(
    tg.outbound.map((c) => [c.method, c.at - t0, c.ok, c.error?.description]),
    [
      ["sendMessage", 0, true, undefined],
      ["sendChatAction", 1500, true, undefined],
      ["sendMessage", 1500, false, "Bad Request: message text is empty"],
    ],
  );
  const [first] = await tg.waitForOutbound("sendmessage", 1);
  assert.equal((first?.result as { text: string }).text, "one");
});

Deno.test("privacy mode: in a group the bot gets commands for it and replies to it, not plain @mentions", async () => {
  await using tg = await TelegramServer.start();
  tg.addUser();
  const other = tg.addUser({ is_bot: true, first_name: "Other", username: "other_bot" });
  const group = tg.addSupergroup("Team");
  const seen = (inbound: { update?: unknown }) => inbound.update !== undefined;
  assert.equal(
    seen(tg.userText(group.id, "@hermes_sim_bot hello")),
    false,
    "a plain mention is hidden",
  );
  assert.equal(seen(tg.userText(group.id, "chatter")), false);
  assert.equal(seen(tg.userCommand(group.id, "ask", "x")), true, "/ask@hermes_sim_bot");
  assert.equal(seen(tg.userText(group.id, "/ask@other_bot x")), false, "a command for another bot");
  assert.equal(
    seen(tg.userCommand(group.id, "ask", "", { addressed: false })),
    false,
    "bare, no bot posted",
  );
  const mine = (await call(tg, "sendMessage", { chat_id: group.id, text: "bot here" })).json.result;
  assert.equal(
    seen(tg.userCommand(group.id, "ask", "", { addressed: false })),
    true,
    "bare, the bot posted last",
  );
  assert.equal(
    seen(tg.userText(group.id, "to you", { replyTo: mine.message_id })),
    true,
    "a reply to the bot",
  );
  assert.equal(
    seen(tg.userText(group.id, "/ask@hermes_sim_bot", { from: other.id })),
    false,
    "other bots never",
  );
  tg.setBotAdmin(group.id);
  assert.equal(seen(tg.userText(group.id, "chatter as admin")), true);
  assert.equal(seen(tg.userText(tg.addUser().id, "a DM is always delivered")), true);
  assert.equal(tg.messages(group.id).length, 10, "hidden messages are still stored");
});

Deno.test("privacy off (can_read_all_group_messages) delivers every user message in groups", async () => {
  await using tg = await TelegramServer.start({ canReadAllGroupMessages: true });
  tg.addUser();
  const group = tg.addGroup("Team");
  assert.notEqual(tg.userText(group.id, "@hermes_sim_bot hello").update, undefined);
  assert.notEqual(tg.userText(group.id, "chatter").update, undefined);
});

Deno.test("userLongText splits a long text into parts of at most 4096 UTF-16 units", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const parts = tg.userLongText(ada.id, "x".repeat(9000));
  assert.deepEqual(parts.map((p) => p.message.text?.length), [4096, 4096, 808]);
  assert.deepEqual(tg.pendingUpdates().map((u) => u.update_id), [1, 2, 3]);
});
