import assert from "node:assert/strict";
import { TelegramApi } from "../../../lib/platforms/telegram/api.ts";
import { ChatRoutes } from "../../../lib/platforms/telegram/chat_routes.ts";
import { SendProgress } from "../../../lib/platforms/telegram/send_progress.ts";
import { TelegramSender } from "../../../lib/platforms/telegram/sender.ts";
import { LinkHealthTracker } from "../../../lib/platforms/health.ts";
import { Logger } from "../../../lib/util/log.ts";
import { SecretMasker } from "../../../lib/util/secret_mask.ts";
import { Faults, TelegramServer } from "../../fakes/telegram_server.ts";
import { tempDir } from "../../_helpers.ts";

async function setup() {
  const tg = await TelegramServer.start({});
  const user = tg.addUser({ first_name: "Ada" });
  const sender = new TelegramSender(
    new TelegramApi({ token: tg.token, baseUrl: tg.url }),
    new LinkHealthTracker(),
    new Logger({ level: "error", sinks: [], masker: new SecretMasker() }),
  );
  const to = {
    platform: "telegram",
    chatType: "dm" as const,
    chatId: String(user.id),
    userId: String(user.id),
  };
  const bot = () => tg.messages(user.id).filter((m) => m.from?.is_bot);
  return { tg, user, sender, to, bot, [Symbol.asyncDispose]: () => tg.close() };
}

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(" ");

Deno.test("a final edit longer than one message edits the preview and sends the rest after it", async () => {
  await using s = await setup();
  const preview = await s.sender.send(s.to, { text: "w0 w1", final: false }, {
    idempotencyKey: "k#0:preview",
    attempt: 1,
  });
  assert.ok(preview.status === "sent");
  const text = words(1_200); // about 6,000 characters: two messages
  await s.sender.edit(s.to, preview.messageId, { text, format: "markdown", final: true }, {
    idempotencyKey: "k#0",
    attempt: 1,
    shownText: "w0 w1",
  });
  const shown = s.bot().map((m) => m.text ?? "");
  assert.equal(shown.length, 2);
  assert.deepEqual(shown.join(" ").split(" "), text.split(" "), "every word, once");
  assert.equal(s.tg.outboundOf("editMessageText").length, 1);
});

Deno.test("a final edit sends the part's files too", async () => {
  await using s = await setup();
  await using dir = tempDir();
  await Deno.writeFile(
    `${dir.path}/chart.png`,
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]),
  );
  const preview = await s.sender.send(s.to, { text: "here", final: false }, {
    idempotencyKey: "k#0:preview",
    attempt: 1,
  });
  assert.ok(preview.status === "sent");
  await s.sender.edit(s.to, preview.messageId, {
    text: "here it is",
    format: "markdown",
    final: true,
    attachments: [{ kind: "image", mime: "image/png", size: 8, path: `${dir.path}/chart.png` }],
  }, { idempotencyKey: "k#0", attempt: 1, shownText: "here" });
  assert.equal(s.tg.outboundOf("sendPhoto").filter((c) => c.ok).length, 1);
  assert.deepEqual(s.bot().map((m) => m.text ?? (m.photo ? "[photo]" : "")), [
    "here it is",
    "[photo]",
  ]);
});

Deno.test("a refused format falls back to plain pieces, and a retry after a 429 sends none of them twice", async () => {
  await using s = await setup();
  // Short labels, long links: the plain text (links written out) takes several messages.
  const markdown = Array.from(
    { length: 600 },
    (_, i) => `[ab](https://example.com/a/long/path/${i})`,
  ).join(" ");
  s.tg.failNext("sendMessage", Faults.parse(), 1);
  s.tg.failNext("sendMessage", Faults.slow(300), 1); // the first plain piece, slowly
  const context = { idempotencyKey: "k#0", attempt: 1 };
  const first = s.sender.send(s.to, { text: markdown, format: "markdown", final: true }, context);
  await s.tg.waitForOutbound("sendMessage", 1);
  s.tg.failNext("sendMessage", Faults.tooManyRequests(1), 1); // the second plain piece
  await assert.rejects(first, (error: Error & { retryable?: boolean }) => error.retryable === true);
  await s.sender.send(s.to, { text: markdown, format: "markdown", final: true }, {
    ...context,
    attempt: 2,
  });
  const texts = s.bot().map((m) => m.text ?? "");
  assert.ok(texts.length >= 3, `${texts.length} pieces`);
  assert.equal(new Set(texts).size, texts.length, "no piece twice");
  assert.ok(
    texts.join(" ").includes("ab (https://example.com/a/long/path/599)"),
    "the last link arrived",
  );
});

Deno.test("a reply whose file is gone still sends its text", async () => {
  await using s = await setup();
  const result = await s.sender.send(s.to, {
    text: "the chart:",
    final: true,
    attachments: [{ kind: "image", mime: "image/png", size: 8, path: "/nonexistent/chart.png" }],
  }, { idempotencyKey: "k#0", attempt: 1 });
  assert.ok(result.status === "sent");
  assert.deepEqual(s.bot().map((m) => m.text), ["the chart:"]);
});

Deno.test("a part half sent before a restart goes on from where it stopped, none of it twice", async () => {
  await using s = await setup();
  await using dir = tempDir();
  await Deno.writeFile(
    `${dir.path}/chart.png`,
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]),
  );
  const part = {
    text: "the chart",
    final: true,
    attachments: [{
      kind: "image" as const,
      mime: "image/png",
      size: 8,
      path: `${dir.path}/chart.png`,
    }],
  };
  const senderOf = async () =>
    new TelegramSender(
      new TelegramApi({ token: s.tg.token, baseUrl: s.tg.url }),
      new LinkHealthTracker(),
      new Logger({ level: "error", sinks: [], masker: new SecretMasker() }),
      await SendProgress.load(dir.path),
    );
  s.tg.failNext("sendMessage", Faults.tooManyRequests(1));
  await assert.rejects((await senderOf()).send(s.to, part, { idempotencyKey: "k#0", attempt: 1 }));
  const saved = JSON.parse(await Deno.readTextFile(`${dir.path}/send-progress.json`));
  assert.deepEqual(saved, { "k#0": { done: 1, plain: [] } });
  assert.equal((await Deno.stat(`${dir.path}/send-progress.json`)).mode! & 0o777, 0o600);
  // A new gateway: a new sender, the same folder.
  await (await senderOf()).send(s.to, part, { idempotencyKey: "k#0", attempt: 2 });
  assert.equal(s.tg.outboundOf("sendPhoto").length, 1, "the photo went once");
  assert.deepEqual(s.bot().map((m) => m.text ?? "[photo]"), ["[photo]", "the chart"]);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir.path}/send-progress.json`)), {});
});

Deno.test("a group that became a supergroup is followed, and still after a restart", async () => {
  await using s = await setup();
  await using dir = tempDir();
  const group = s.tg.addGroup("Team");
  const supergroup = s.tg.migrate(group.id);
  const to = {
    platform: "telegram",
    chatType: "group" as const,
    chatId: String(group.id),
    userId: "1",
  };
  const senderOf = async () =>
    new TelegramSender(
      new TelegramApi({ token: s.tg.token, baseUrl: s.tg.url }),
      new LinkHealthTracker(),
      new Logger({ level: "error", sinks: [], masker: new SecretMasker() }),
      SendProgress.inMemory(),
      await ChatRoutes.load(dir.path),
    );
  await (await senderOf()).send(to, { text: "one", final: true }, {
    idempotencyKey: "a#0",
    attempt: 1,
  });
  const before = s.tg.outboundOf("sendMessage").length;
  await (await senderOf()).send(to, { text: "two", final: true }, {
    idempotencyKey: "b#0",
    attempt: 1,
  });
  const calls = s.tg.outboundOf("sendMessage");
  assert.equal(calls.length, before + 1, "after the restart it goes to the new id at once");
  assert.equal(Number(calls.at(-1)!.params.chat_id), supergroup);
  assert.deepEqual(
    s.tg.messages(supergroup).filter((m) => m.from?.is_bot).map((m) => m.text),
    ["one", "two"],
  );
});
