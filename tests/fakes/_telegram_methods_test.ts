import assert from "node:assert/strict";
import { call } from "./_telegram_test_helpers.ts";
import { TelegramServer } from "./telegram_server.ts";

const NOT_MODIFIED = "Bad Request: message is not modified: specified new message content and " +
  "reply markup are exactly the same as a current content and reply markup of the message";

Deno.test("sendMessage refuses empty, whitespace-only and over-4096 texts (counted in UTF-16 after parsing)", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const send = (params: Record<string, unknown>) =>
    call(tg, "sendMessage", { chat_id: ada.id, ...params });
  const cases: [Record<string, unknown>, string][] = [
    [{}, "Bad Request: message text is empty"],
    [{ text: "" }, "Bad Request: message text is empty"],
    [{ text: " \n\t " }, "Bad Request: text must be non-empty"],
    [{ text: "😀".repeat(2049) }, "Bad Request: message is too long"],
    [{ text: "x", parse_mode: "Markdown2" }, "Bad Request: unsupported parse_mode"],
    [
      { text: "1.5", parse_mode: "MarkdownV2" },
      "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
    ],
    [
      { text: "é _x", parse_mode: "MarkdownV2" },
      "Bad Request: can't parse entities: Can't find end of Italic entity at byte offset 3",
    ],
    [
      { text: "a<br>b", parse_mode: "HTML" },
      'Bad Request: can\'t parse entities: Unsupported start tag "br" at byte offset 1',
    ],
  ];
  for (const [params, description] of cases) {
    const reply = await send(params);
    assert.equal(reply.status, 400, description);
    assert.equal(reply.json.description, description);
  }
  const atLimit = await send({ text: "😀".repeat(2048) });
  assert.equal(atLimit.status, 200, "4096 UTF-16 units pass");
  const markup = await send({ text: `*${"a".repeat(4096)}*`, parse_mode: "markdownv2" });
  assert.equal(markup.status, 200, "markup does not count");
  assert.deepEqual(markup.json.result.entities, [{ type: "bold", offset: 0, length: 4096 }]);
  const trimmed = await send({ text: "  <b>hi</b>  ", parse_mode: "HTML" });
  assert.equal(trimmed.json.result.text, "hi");
});

Deno.test("sendMessage: chat not found, @username, thread checks including General in a forum", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser({ username: "ada_l" });
  const forum = tg.addSupergroup("Forum", { forum: true });
  const plain = tg.addSupergroup("Plain");
  const topic = tg.createTopic(forum.id, "Ideas");
  const send = (params: Record<string, unknown>) =>
    call(tg, "sendMessage", { text: "x", ...params });
  assert.equal((await send({ chat_id: 99 })).json.description, "Bad Request: chat not found");
  assert.equal(
    (await send({ chat_id: "@nobody" })).json.description,
    "Bad Request: chat not found",
  );
  assert.equal((await send({ chat_id: "@ada_l" })).json.result.chat.id, ada.id);
  const inTopic = await send({ chat_id: forum.id, message_thread_id: topic });
  assert.equal(inTopic.json.result.message_thread_id, topic);
  assert.equal(inTopic.json.result.is_topic_message, true);
  for (const [chat, thread] of [[forum.id, 1], [forum.id, 999], [plain.id, 5], [ada.id, 2]]) {
    const reply = await send({ chat_id: chat, message_thread_id: thread });
    assert.equal(
      reply.json.description,
      "Bad Request: message thread not found",
      `${chat}/${thread}`,
    );
  }
  assert.equal((await send({ chat_id: forum.id })).json.result.message_thread_id, undefined);
  const typing = await call(tg, "sendChatAction", {
    chat_id: forum.id,
    action: "typing",
    message_thread_id: 1,
  });
  assert.equal(typing.json.result, true, "sendChatAction takes General's 1");
});

Deno.test("sendMessage: a missing reply target is 400 unless allow_sending_without_reply", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const { message } = tg.userText(ada.id, "question");
  const send = (reply_parameters: Record<string, unknown>) =>
    call(tg, "sendMessage", { chat_id: ada.id, text: "answer", reply_parameters });
  const ok = await send({ message_id: message.message_id });
  assert.equal(ok.json.result.reply_to_message.text, "question");
  const missing = await send({ message_id: 77 });
  assert.equal(missing.json.description, "Bad Request: message to be replied not found");
  const allowed = await send({ message_id: 77, allow_sending_without_reply: true });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.json.result.reply_to_message, undefined);
  const legacy = await call(tg, "sendMessage", {
    chat_id: ada.id,
    text: "a",
    reply_to_message_id: 77,
  }, "form");
  assert.equal(legacy.status, 400);
});

Deno.test("editMessageText: not modified (exact wording), not found, not the bot's, then an edit", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const sent =
    (await call(tg, "sendMessage", { chat_id: ada.id, text: "*v1*", parse_mode: "MarkdownV2" }))
      .json.result;
  const edit = (params: Record<string, unknown>) =>
    call(tg, "editMessageText", { chat_id: ada.id, message_id: sent.message_id, ...params });
  const same = await edit({ text: "*v1*", parse_mode: "MarkdownV2" });
  assert.equal(same.status, 400);
  assert.equal(same.json.description, NOT_MODIFIED);
  const plain = await edit({ text: "v1" });
  assert.equal(plain.status, 200, "dropping the bold is a change");
  assert.equal(plain.json.result.entities, undefined);
  assert.equal(typeof plain.json.result.edit_date, "number");
  assert.equal(
    (await edit({ message_id: 404, text: "x" })).json.description,
    "Bad Request: message to edit not found",
  );
  const theirs = tg.userText(ada.id, "mine").message;
  assert.equal(
    (await edit({ message_id: theirs.message_id, text: "x" })).json.description,
    "Bad Request: message can't be edited",
  );
  assert.equal(tg.messages(ada.id).find((m) => m.message_id === sent.message_id)?.text, "v1");
});

Deno.test("sendMessageDraft: private chats only, draft_id != 0, text 0-4096, frames logged, ended by a send", async () => {
  const t0 = Date.UTC(2026, 3, 1);
  let now = t0;
  await using tg = await TelegramServer.start({ clock: () => now });
  const ada = tg.addUser();
  const group = tg.addGroup("G");
  const draft = (params: Record<string, unknown>) =>
    call(tg, "sendMessageDraft", { chat_id: ada.id, draft_id: 7, ...params });
  assert.deepEqual((await draft({ text: "" })).json, { ok: true, result: true });
  now += 400;
  await draft({ text: "Thinking about it" });
  assert.equal(
    (await draft({ draft_id: 0, text: "x" })).json.description,
    "Bad Request: draft_id must be non-zero",
  );
  assert.equal(
    (await draft({ chat_id: group.id, text: "x" })).json.description,
    "Bad Request: TEXTDRAFT_PEER_INVALID",
  );
  assert.equal(
    (await draft({ text: "x".repeat(4097) })).json.description,
    "Bad Request: message is too long",
  );
  assert.deepEqual(tg.drafts.map((d) => [d.text, d.at - t0]), [["", 0], [
    "Thinking about it",
    400,
  ]]);
  assert.deepEqual(tg.liveDrafts(ada.id).map((d) => d.text), ["Thinking about it"]);
  now += 30_000;
  assert.deepEqual(tg.liveDrafts(ada.id), [], "a draft lives 30 s");
  await draft({ text: "again" });
  await call(tg, "sendMessage", { chat_id: ada.id, text: "final" });
  assert.deepEqual(tg.liveDrafts(ada.id), [], "the final send ends it");
});

Deno.test("sendChatAction shows for 5 s and clears when the bot sends", async () => {
  let now = Date.UTC(2026, 3, 1);
  await using tg = await TelegramServer.start({ clock: () => now });
  const ada = tg.addUser();
  assert.equal(
    (await call(tg, "sendChatAction", { chat_id: ada.id, action: "dance" })).json.description,
    "Bad Request: wrong parameter action in request",
  );
  await call(tg, "sendChatAction", { chat_id: ada.id, action: "typing" });
  assert.equal(tg.chatAction(ada.id), "typing");
  now += 5001;
  assert.equal(tg.chatAction(ada.id), undefined);
  await call(tg, "sendChatAction", { chat_id: ada.id, action: "upload_document" });
  await call(tg, "sendMessage", { chat_id: ada.id, text: "done" });
  assert.equal(tg.chatAction(ada.id), undefined);
});

Deno.test("sendPhoto and sendDocument take multipart uploads, store the bytes and check the caption", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const bytes = crypto.getRandomValues(new Uint8Array(1000));
  const photo = await call(tg, "sendPhoto", {
    chat_id: ada.id,
    photo: new File([bytes], "p.jpg", { type: "image/jpeg" }),
    caption: "<i>pic</i>",
    parse_mode: "HTML",
  }, "multipart");
  assert.equal(photo.status, 200);
  const sizes = photo.json.result.photo;
  assert.equal(sizes.at(-1).file_size, 1000);
  assert.deepEqual(photo.json.result.caption_entities, [{ type: "italic", offset: 0, length: 3 }]);
  const file = (await call(tg, "getFile", { file_id: sizes.at(-1).file_id })).json.result;
  assert.deepEqual(
    new Uint8Array(await (await fetch(`${tg.fileBase}/${file.file_path}`)).arrayBuffer()),
    bytes,
  );
  const doc = await call(tg, "sendDocument", {
    chat_id: ada.id,
    document: new File(["hello"], "hello.txt", { type: "text/plain" }),
  }, "multipart");
  assert.deepEqual(
    [
      doc.json.result.document.file_name,
      doc.json.result.document.mime_type,
      doc.json.result.document.file_size,
    ],
    ["hello.txt", "text/plain", 5],
  );
  const resend = await call(tg, "sendDocument", {
    chat_id: ada.id,
    document: doc.json.result.document.file_id,
  });
  assert.equal(
    resend.json.result.document.file_id,
    doc.json.result.document.file_id,
    "a file_id is reused",
  );
  const long = await call(tg, "sendDocument", {
    chat_id: ada.id,
    document: new File(["x"], "x.txt"),
    caption: "c".repeat(1025),
  }, "multipart");
  assert.equal(long.json.description, "Bad Request: message caption is too long");
  assert.equal(
    (await call(tg, "sendPhoto", { chat_id: ada.id })).json.description,
    "Bad Request: there is no photo in the request",
  );
  assert.equal(
    (await call(tg, "sendPhoto", { chat_id: ada.id, photo: "junk" })).json.description,
    "Bad Request: wrong file identifier/HTTP URL specified",
  );
  assert.deepEqual(tg.outbound.map((c) => c.method), [
    "sendPhoto",
    "getFile",
    "sendDocument",
    "sendDocument",
    "sendDocument",
    "sendPhoto",
    "sendPhoto",
  ]);
});

Deno.test("setMyCommands checks names, descriptions and the 100 limit, per scope", async () => {
  await using tg = await TelegramServer.start();
  const set = (commands: unknown, scope?: unknown) =>
    call(tg, "setMyCommands", { commands, ...(scope ? { scope } : {}) });
  assert.equal(
    (await set([{ command: "Start", description: "go" }])).json.description,
    "Bad Request: BOT_COMMAND_INVALID",
  );
  assert.equal(
    (await set([{ command: "start", description: "" }])).json.description,
    "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID",
  );
  const many = Array.from({ length: 101 }, (_, i) => ({ command: `c${i}`, description: "d" }));
  assert.equal((await set(many)).json.description, "Bad Request: BOT_COMMANDS_TOO_MUCH");
  assert.equal((await set([{ command: "start", description: "Start" }])).json.result, true);
  assert.equal(
    (await set([{ command: "ask", description: "Ask" }], { type: "all_group_chats" })).json.result,
    true,
  );
  assert.deepEqual(tg.commands(), [{ command: "start", description: "Start" }]);
  assert.deepEqual(tg.commands({ type: "all_group_chats" }), [{
    command: "ask",
    description: "Ask",
  }]);
  assert.deepEqual((await call(tg, "getMyCommands", {})).json.result, [{
    command: "start",
    description: "Start",
  }]);
});

Deno.test("deleteMessage: the bot's own under 48 h; others' outside private chats are refused", async () => {
  let now = Date.UTC(2026, 3, 1);
  await using tg = await TelegramServer.start({ clock: () => now });
  tg.addUser();
  const group = tg.addSupergroup("G");
  const mine = (await call(tg, "sendMessage", { chat_id: group.id, text: "mine" })).json.result;
  const old = (await call(tg, "sendMessage", { chat_id: group.id, text: "old" })).json.result;
  const theirs = tg.userText(group.id, "theirs").message;
  const del = (message_id: number) => call(tg, "deleteMessage", { chat_id: group.id, message_id });
  assert.equal((await del(mine.message_id)).json.result, true);
  assert.equal(
    (await del(mine.message_id)).json.description,
    "Bad Request: message to delete not found",
  );
  assert.equal(
    (await del(theirs.message_id)).json.description,
    "Bad Request: message can't be deleted",
  );
  now += 48 * 3600_000 + 1000;
  assert.equal(
    (await del(old.message_id)).json.description,
    "Bad Request: message can't be deleted",
  );
  assert.deepEqual(tg.messages(group.id).map((m) => m.text), ["old", "theirs"]);
});

Deno.test("answerCallbackQuery answers a press once, within 15 s", async () => {
  let now = Date.UTC(2026, 3, 1);
  await using tg = await TelegramServer.start({ clock: () => now });
  const ada = tg.addUser();
  const sent = (await call(tg, "sendMessage", { chat_id: ada.id, text: "pick" })).json.result;
  const id = tg.pressButton(ada.id, sent.message_id, "yes");
  assert.equal(
    tg.pendingUpdates()[0]?.callback_query &&
      (tg.pendingUpdates()[0]!.callback_query as { data: string }).data,
    "yes",
  );
  assert.equal(
    (await call(tg, "answerCallbackQuery", { callback_query_id: id })).json.result,
    true,
  );
  const twice = await call(tg, "answerCallbackQuery", { callback_query_id: id });
  assert.equal(
    twice.json.description,
    "Bad Request: query is too old and response timeout expired or query ID is invalid",
  );
  const late = tg.pressButton(ada.id, sent.message_id, "late");
  now += 16_000;
  assert.equal((await call(tg, "answerCallbackQuery", { callback_query_id: late })).status, 400);
});

Deno.test("the rate model (off by default) shares a chat's budget between sends and edits", async () => {
  let now = Date.UTC(2026, 3, 1);
  await using tg = await TelegramServer.start({ clock: () => now });
  const ada = tg.addUser();
  const send = () => call(tg, "sendMessage", { chat_id: ada.id, text: `n${now}` });
  for (let i = 0; i < 5; i++) assert.equal((await send()).status, 200, "off by default");
  tg.setRateLimits(true);
  const first = (await send()).json.result;
  await send();
  const edit = await call(tg, "editMessageText", {
    chat_id: ada.id,
    message_id: first.message_id,
    text: "edited",
  });
  assert.equal(edit.status, 200, "the burst of 3 covers the edit");
  const limited = await send();
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "1");
  assert.deepEqual(limited.json.parameters, { retry_after: 1 });
  assert.equal(limited.json.description, "Too Many Requests: retry after 1");
  const editLimited = await call(tg, "editMessageText", {
    chat_id: ada.id,
    message_id: first.message_id,
    text: "again",
  });
  assert.equal(editLimited.status, 429, "edits draw on the same budget");
  now += 1000;
  assert.equal((await send()).status, 200);
});

Deno.test("the rate model: 20 per minute into a group, 30 per second overall", async () => {
  let now = Date.UTC(2026, 3, 1);
  await using tg = await TelegramServer.start({
    clock: () => now,
    rateLimits: { chatBurst: 100, chatPerSecond: 100 },
  });
  tg.addUser();
  const group = tg.addGroup("G");
  for (let i = 0; i < 20; i++) {
    assert.equal((await call(tg, "sendMessage", { chat_id: group.id, text: `${i}` })).status, 200);
    now += 100;
  }
  const limited = await call(tg, "sendMessage", { chat_id: group.id, text: "21st" });
  assert.equal(limited.status, 429);
  assert.equal(limited.json.parameters.retry_after, 58);
  tg.setRateLimits(true, { groupPerMinute: 1000 });
  const users = Array.from({ length: 31 }, () => tg.addUser());
  const statuses = [];
  for (const user of users) {
    statuses.push((await call(tg, "sendMessage", { chat_id: user.id, text: "x" })).status);
  }
  assert.deepEqual(statuses.filter((s) => s === 429).length, 1);
  assert.equal(statuses.at(-1), 429);
});
