import assert from "node:assert/strict";
import { readCallback } from "../../../lib/platforms/wecom/inbound.ts";

const base = { msgid: "msg-1", from: { userid: "user-1" }, chattype: "single" };

Deno.test("a text callback gives its trimmed text, the sender and a DM", () => {
  const message = readCallback(
    { ...base, msgtype: "text", text: { content: "  hello world  " } },
    "R1",
  );
  assert.equal(message?.text, "hello world");
  assert.equal(message?.replyToText, undefined);
  assert.equal(message?.chatType, "dm");
  assert.equal(message?.chatId, "user-1", "a DM's chat is its sender");
  assert.equal(message?.messageId, "msg-1");
  assert.equal(message?.reqId, "R1");
});

Deno.test("group messages lose one leading @mention, and only groups", () => {
  const group = readCallback({
    ...base,
    chattype: "GROUP",
    chatid: "wrkG1",
    msgtype: "text",
    text: { content: "@Bot /approve @other" },
  }, "R1");
  assert.equal(group?.chatType, "group");
  assert.equal(group?.chatId, "wrkG1");
  assert.equal(group?.text, "/approve @other");
  const dm = readCallback({ ...base, msgtype: "text", text: { content: "@Bot hi" } }, "R2");
  assert.equal(dm?.text, "@Bot hi");
});

Deno.test("mixed messages join their texts and keep their images", () => {
  const message = readCallback({
    ...base,
    msgtype: "mixed",
    mixed: {
      msg_item: [
        { msgtype: "text", text: { content: "part1" } },
        { msgtype: "image", image: { url: "https://wework.example/i.png", aeskey: "k" } },
        { msgtype: "text", text: { content: "part2" } },
      ],
    },
  }, "R1");
  assert.equal(message?.text, "part1\npart2");
  assert.deepEqual(message?.media, [{
    kind: "image",
    url: "https://wework.example/i.png",
    aeskey: "k",
  }]);
});

Deno.test("voice gives its transcript and a quote its text", () => {
  const message = readCallback({
    ...base,
    msgtype: "voice",
    voice: { content: "spoken text" },
    quote: { msgtype: "text", text: { content: "quoted" } },
  }, "R1");
  assert.equal(message?.text, "spoken text");
  assert.equal(message?.replyToText, "quoted");
});

Deno.test("an app message gives title, summary and link; a quoted one gives the same as the quote", () => {
  const appmsg = {
    title: "Quarterly update",
    digest: "Latest data and evidence",
    url: "https://example.com/article",
  };
  assert.equal(
    readCallback({ ...base, msgtype: "appmsg", appmsg }, "R1")?.text,
    "Quarterly update\nLatest data and evidence\nhttps://example.com/article",
  );
  const quoting = readCallback({
    ...base,
    msgtype: "text",
    text: { content: "Please analyze this article" },
    quote: {
      msgtype: "appmsg",
      appmsg: { title: "T", description: "D", content_url: "https://example.com/a" },
    },
  }, "R1");
  assert.equal(quoting?.text, "Please analyze this article");
  assert.equal(quoting?.replyToText, "T\nD\nhttps://example.com/a");
});

Deno.test("files and quoted media are referred to; a quote alone becomes the text", () => {
  const file = readCallback({
    ...base,
    msgtype: "file",
    file: { url: "https://wework.example/f", aeskey: "k", filename: "report.pdf" },
  }, "R1");
  assert.deepEqual(file?.media, [{
    kind: "file",
    url: "https://wework.example/f",
    aeskey: "k",
    name: "report.pdf",
  }]);
  const quoted = readCallback({
    ...base,
    msgtype: "text",
    text: { content: "what is this?" },
    quote: { msgtype: "appmsg", appmsg: { image: { url: "https://wework.example/q.png" } } },
  }, "R1");
  assert.deepEqual(quoted?.media, [{ kind: "image", url: "https://wework.example/q.png" }]);
  const quoteOnly = readCallback({
    ...base,
    msgtype: "text",
    text: { content: "" },
    quote: { msgtype: "text", text: { content: "earlier" } },
  }, "R1");
  assert.equal(quoteOnly?.text, "earlier");
  assert.equal(quoteOnly?.replyToText, undefined);
});

Deno.test("callbacks with no sender, or nothing to answer, or fields of the wrong type are dropped", () => {
  assert.equal(readCallback({ msgtype: "text", text: { content: "hi" } }, "R1"), undefined);
  assert.equal(
    readCallback({ ...base, msgtype: "text", text: { content: "  " } }, "R1"),
    undefined,
  );
  assert.equal(readCallback({ ...base, msgtype: "text", text: "hi" }, "R1"), undefined);
  assert.equal(
    readCallback({ ...base, from: { userid: 7 }, msgtype: "text", text: { content: "hi" } }, "R1"),
    undefined,
  );
  const noId = readCallback(
    { from: { userid: "u" }, msgtype: "text", text: { content: "x" } },
    "R9",
  );
  assert.equal(noId?.messageId, "R9", "without a msgid the req_id names the message");
  const odd = readCallback({
    ...base,
    msgtype: "mixed",
    mixed: { msg_item: [null, 3, { msgtype: "text", text: { content: ["x"] } }] },
    image: { url: 5 },
  }, "R1");
  assert.equal(odd, undefined);
});
