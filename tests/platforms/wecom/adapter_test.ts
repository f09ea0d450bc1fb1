import assert from "node:assert/strict";
import { PlatformError } from "../../../lib/errors.ts";
import { WecomServer } from "../../fakes/wecom_server.ts";
import { tempDir } from "../../_helpers.ts";
import { testAdapter } from "./_context.ts";

const until = async (what: string, check: () => boolean, ms = 5000) => {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) assert.fail(`Gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

Deno.test("a stop hands on what it still holds (a file being fetched, pieces being joined) before it resolves", async () => {
  await using wecom = await WecomServer.start();
  await using dir = tempDir();
  const t = testAdapter(wecom.url, dir.path, {
    settings: { text_batch_delay_seconds: 0.6 },
    emitDelayMs: 50,
  });
  await t.adapter.connect();
  const image = wecom.media(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), {
    delayMs: 300,
  });
  wecom.callback("bot-1", {
    chatType: "dm",
    userId: "zs",
    msgtype: "image",
    body: { image: { url: image.url } },
  });
  wecom.callback("bot-1", { chatType: "dm", userId: "zs", text: "and this text" });
  await until(
    "both callbacks read",
    () => wecom.sent.filter((r) => r.frame?.cmd === "aibot_msg_callback").length === 2,
  );
  await new Promise((r) => setTimeout(r, 50));
  await t.adapter.disconnect("gateway stopping");
  const stoppedAt = performance.now();
  await new Promise((r) => setTimeout(r, 900));
  assert.deepEqual(t.emitted.map((e) => e.event.text), ["", "and this text"]);
  assert.ok(t.emitted.every((e) => e.at <= stoppedAt), "nothing is handed on after the stop");
  assert.equal(t.emitted[0]!.event.attachments?.length, 1, "the file came along");
});

Deno.test("a part retried after its file went out sends only what did not", async () => {
  await using wecom = await WecomServer.start();
  await using dir = tempDir();
  const t = testAdapter(wecom.url, dir.path);
  await t.adapter.connect();
  const { reqId } = wecom.callback("bot-1", { chatType: "dm", userId: "zs", text: "report?" });
  const path = `${dir.path}/report.pdf`;
  await Deno.writeFile(path, new TextEncoder().encode("%PDF-1.7 numbers"));
  const to = { platform: "wecom", chatType: "dm" as const, chatId: "zs", userId: "zs" };
  const message = {
    text: "here it is",
    final: true,
    attachments: [{
      kind: "file" as const,
      mime: "application/pdf",
      name: "report.pdf",
      size: 16,
      path,
    }],
  };
  const context = { idempotencyKey: "inbound:1#0", attempt: 1, replyContext: { req_id: reqId } };
  void wecom.waitForFrame((r) => r.frame?.body?.msgtype === "file").then(() =>
    wecom.failNext("aibot_respond_msg", -1, 1, "system busy")
  );
  await assert.rejects(
    t.adapter.send(to, message, context),
    (error) => error instanceof PlatformError && error.retryable,
  );
  await t.adapter.send(to, message, { ...context, attempt: 2 });
  const replies = wecom.framesOf("aibot_respond_msg").map((r) => r.frame?.body?.msgtype);
  assert.deepEqual(
    replies,
    ["file", "markdown", "markdown"],
    "the file once, the text until it went",
  );
  await t.adapter.disconnect("done");
});

Deno.test("a server that closes every link right after its subscribe (our device_id used elsewhere) ends in superseded, not a kick-fight", async () => {
  await using wecom = await WecomServer.start();
  await using dir = tempDir();
  const a = testAdapter(wecom.url, dir.path);
  const b = testAdapter(wecom.url, dir.path); // the same state folder: the same device_id
  await a.adapter.connect();
  await b.adapter.connect();
  await until(
    "one side to step back",
    () => a.health.state === "superseded" || b.health.state === "superseded",
    15_000,
  );
  const settled = wecom.subscribes("bot-1");
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(wecom.subscribes("bot-1"), settled, "no more subscribes once it stepped back");
  assert.ok(settled <= 4, `${settled} subscribes in all`);
  const stepped = a.health.state === "superseded" ? a : b;
  assert.equal(stepped.health.snapshot().last_error?.code, "closed_after_subscribe");
  await a.adapter.disconnect("done");
  await b.adapter.disconnect("done");
});

Deno.test("a group callback without its group id is dropped, never answered as the sender's DM", async () => {
  await using wecom = await WecomServer.start();
  await using dir = tempDir();
  const t = testAdapter(wecom.url, dir.path);
  await t.adapter.connect();
  wecom.sendRaw(
    "bot-1",
    JSON.stringify({
      cmd: "aibot_msg_callback",
      headers: { req_id: "R-nogroup" },
      body: {
        msgid: "m-1",
        chattype: "group",
        from: { userid: "zs" },
        msgtype: "text",
        text: { content: "hi" },
      },
    }),
  );
  wecom.callback("bot-1", { chatType: "dm", userId: "zs", text: "in the DM" });
  await until("the DM handed on", () => t.emitted.length === 1);
  assert.deepEqual(t.emitted.map((e) => e.event.text), ["in the DM"]);
  await t.adapter.disconnect("done");
});

Deno.test("one msgid in two chats is two messages; again in the same chat it is a repeat", async () => {
  await using wecom = await WecomServer.start();
  await using dir = tempDir();
  const t = testAdapter(wecom.url, dir.path);
  await t.adapter.connect();
  wecom.callback("bot-1", {
    chatType: "group",
    chatId: "g1",
    userId: "zs",
    msgid: "m-7",
    text: "one",
  });
  wecom.callback("bot-1", {
    chatType: "group",
    chatId: "g2",
    userId: "zs",
    msgid: "m-7",
    text: "two",
  });
  wecom.callback("bot-1", {
    chatType: "group",
    chatId: "g1",
    userId: "zs",
    msgid: "m-7",
    text: "one",
  });
  wecom.callback("bot-1", { chatType: "dm", userId: "zs", text: "last" });
  // Each is judged a repeat or not as it arrives, so once all are handed on the count is final.
  const texts = () => t.emitted.map((e) => e.event.text);
  await until(
    "all three handed on",
    () => ["one", "two", "last"].every((x) => texts().includes(x)),
  );
  assert.deepEqual(texts().sort(), ["last", "one", "two"]);
  await t.adapter.disconnect("done");
});
