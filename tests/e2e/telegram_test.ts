import assert from "node:assert/strict";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { Faults } from "../fakes/telegram_server.ts";
import { cachedFiles, PNG } from "./_media.ts";
import { waitFor } from "../gateway/_gateway.ts";
import { runHermes } from "../_helpers.ts";
import { sentTexts, startTelegramGateway, telegramHealth, waitForText } from "./_telegram.ts";

Deno.test("a DM and the group messages that address the bot are answered; one that does not is not", async () => {
  await using setup = await startTelegramGateway();
  const { tg } = setup;
  const ada = tg.addUser({ first_name: "Ada" });
  tg.userText(ada.id, "hello from a DM");
  await waitForText(tg, ada.id, "hello from a DM");

  const group = tg.addSupergroup("Team");
  tg.setBotAdmin(group.id); // the bot sees every message, so not being addressed is what keeps one out
  // Each from someone else: one person's second message would supersede their first.
  const [bob, cy, di, ed] = ["Bob", "Cy", "Di", "Ed"].map((first_name) =>
    tg.addUser({ first_name })
  );
  tg.userCommand(group.id, "echo", "as a command", { from: bob!.id });
  tg.userText(group.id, `@${tg.bot.username} as a mention`, { from: cy!.id });
  const bots = tg.messages(group.id); // none yet: reply to a bot message below
  assert.equal(bots.filter((m) => m.from?.is_bot).length, 0);
  tg.userText(group.id, "lunch anyone?", { from: di!.id });
  await waitForText(tg, group.id, `@${tg.bot.username} as a mention`);
  const botMessage = tg.messages(group.id).find((m) => m.from?.is_bot)!;
  tg.userText(group.id, "as a reply", { from: ed!.id, replyTo: botMessage.message_id });
  await waitForText(tg, group.id, "as a reply");
  await waitFor("the command's answer", () => sentTexts(tg, group.id).length >= 3).catch((e) => {
    throw new Error(`${e.message}: ${setup.gateway.stderr().slice(-3000)}`);
  });
  const texts = sentTexts(tg, group.id);
  assert.ok(texts.some((t) => t.includes("as a command")), texts.join(" | "));
  assert.ok(!texts.some((t) => t.includes("lunch")), "a message not for the bot got an answer");
  // Answers quote the message they answer.
  const replies = tg.outboundOf("sendMessage").filter((c) => c.ok);
  assert.ok(
    replies.every((c) => (c.params.reply_parameters as { message_id?: number })?.message_id),
  );

  const health = await telegramHealth(setup);
  assert.equal(health.state, "receiving");
  const details = health.details as Record<string, unknown>;
  assert.equal(details.bot, `@${tg.bot.username}`);
  assert.equal(details.mode, "polling");
  assert.ok(Number(details.last_update_id) >= 5);
  assert.ok((health.last_inbound_at as Record<string, string>).dm);
  assert.ok((health.last_inbound_at as Record<string, string>).group);
});

Deno.test("across a clean restart between batches and a kill -9 right after a batch is journaled, every update is answered once", async () => {
  await using setup = await startTelegramGateway();
  const { tg } = setup;
  const users = Array.from({ length: 12 }, (_, i) => tg.addUser({ first_name: `U${i}` }));
  const ask = (from: number, to: number, batch: string) => {
    for (const user of users.slice(from, to)) {
      tg.userText(user.id, `${batch} from ${user.first_name}`);
    }
  };
  const answered = (batch: string, from: number, to: number) =>
    users.slice(from, to).every((u) =>
      sentTexts(tg, u.id).includes(`${batch} from ${u.first_name}`)
    );

  ask(0, 4, "first");
  await waitFor("the first batch's answers", () => answered("first", 0, 4), 15_000);
  // A clean stop, and a batch that arrives while no gateway runs.
  setup.gateway.child.kill("SIGTERM");
  assert.equal(
    await setup.gateway.exited,
    75,
    "drained, and asks its supervisor to start it again",
  );
  ask(4, 8, "second");
  await setup.restart();
  await waitFor("the second batch's answers", () => answered("second", 4, 8), 15_000);

  // Replies cannot go out, so a batch is journaled but unanswered when the gateway dies.
  tg.failNext("sendMessage", Faults.tooManyRequests(1), 1_000);
  const offsetFile = `${setup.home}/platforms/telegram/offset-${tg.bot.id}.json`;
  const savedOffset = () => JSON.parse(Deno.readTextFileSync(offsetFile)).offset as number;
  const before = savedOffset();
  ask(8, 12, "third");
  await waitFor("the third batch to be journaled", () => savedOffset() >= before + 4, 15_000);
  await setup.restart(); // kill -9, then a new gateway in the same home
  tg.clearFaults();
  await waitFor("the third batch's answers", () => answered("third", 8, 12), 20_000);

  await new Promise((resolve) => setTimeout(resolve, 1_500)); // time for a double to show
  for (const user of users) {
    const texts = sentTexts(tg, user.id);
    assert.equal(texts.length, 1, `${user.first_name} got ${JSON.stringify(texts)}`);
  }
});

Deno.test("a second poller on the same token: superseded, named, one poll per 10 s at most, and nothing lost once it stops", async () => {
  await using setup = await startTelegramGateway();
  const { tg } = setup;
  const ada = tg.addUser({ first_name: "Ada" });
  // Another bot instance polling with the same token (it never confirms anything: no offset).
  let rogue = true;
  const rogueLoop = (async () => {
    while (rogue) {
      const response = await fetch(`${tg.apiBase}/getUpdates?timeout=1&limit=1`).catch(() =>
        undefined
      );
      await response?.body?.cancel();
    }
  })();
  const conflictStart = Date.now();
  await waitFor(
    "the gateway to see the conflict",
    async () => (await telegramHealth(setup)).state === "superseded",
    15_000,
  );
  const health = await telegramHealth(setup);
  const error = health.last_error as { code: string; message: string };
  assert.equal(error.code, "409");
  assert.match(error.message, /terminated by other getUpdates request.*another poller/);
  tg.userText(ada.id, "sent during the conflict");
  await new Promise((resolve) => setTimeout(resolve, 21_000));
  const gatewayPolls = tg.requests.filter((r) =>
    r.method === "getupdates" && r.params.allowed_updates !== undefined && r.at >= conflictStart
  );
  rogue = false;
  await rogueLoop;
  const span = (gatewayPolls.at(-1)!.at - gatewayPolls[0]!.at) / 1000;
  assert.ok(
    gatewayPolls.length <= Math.floor(span / 10) + 2,
    `${gatewayPolls.length} polls in ${span} s`,
  );
  for (let i = 2; i < gatewayPolls.length; i++) {
    assert.ok(
      gatewayPolls[i]!.at - gatewayPolls[i - 1]!.at >= 9_900,
      "polls 10 s apart while superseded",
    );
  }
  await waitForText(tg, ada.id, "sent during the conflict", 30_000);
  // Back within one wait of the other poller's end.
  await waitFor("the link to recover", async () => {
    const { state } = await telegramHealth(setup);
    return state === "subscribed" || state === "receiving";
  }, 15_000);
  tg.userText(ada.id, "after the conflict");
  await waitForText(tg, ada.id, "after the conflict");
});

Deno.test("webhook mode: updates with the secret are answered, a wrong secret gets 401, and a kill -9 mid-delivery loses nothing", async () => {
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = free.addr.port;
  free.close();
  const secret = "webhook-secret-0123456789";
  await using setup = await startTelegramGateway({
    env: {
      TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${port}/telegram/hook`,
      TELEGRAM_WEBHOOK_SECRET: secret,
      TELEGRAM_WEBHOOK_HOST: "127.0.0.1",
      TELEGRAM_WEBHOOK_PORT: String(port),
    },
    server: { webhookRetryMs: 200 },
  });
  const { tg } = setup;
  await waitFor("setWebhook", () => tg.outboundOf("setWebhook").some((c) => c.ok));
  const set = tg.outboundOf("setWebhook").find((c) => c.ok)!;
  assert.equal(set.params.secret_token, secret);
  assert.equal(tg.outboundOf("deleteWebhook").length, 0, "webhook mode never deletes the webhook");

  const ada = tg.addUser({ first_name: "Ada" });
  tg.userText(ada.id, "by webhook");
  await waitForText(tg, ada.id, "by webhook");
  assert.ok(tg.deliveries.every((d) => d.secret === secret));
  const details = (await telegramHealth(setup)).details as Record<string, unknown>;
  assert.equal(details.mode, "webhook");

  // Someone who knows the URL but not the secret.
  const forged = JSON.stringify({
    update_id: 999_999,
    message: {
      message_id: 1,
      date: 1,
      chat: { id: ada.id, type: "private" },
      from: { id: ada.id, first_name: "Ada" },
      text: "forged",
    },
  });
  const attempts: Record<string, string>[] = [{}, {
    "x-telegram-bot-api-secret-token": "wrong-secret-0123456789",
  }];
  for (const header of attempts) {
    const r = await fetch(`http://127.0.0.1:${port}/telegram/hook`, {
      method: "POST",
      headers: { "content-type": "application/json", ...header },
      body: forged,
    });
    assert.equal(r.status, 401);
    await r.body?.cancel();
  }

  // A burst, and the gateway killed while it takes it (replies held back, so none is half sent):
  // Telegram sends again what was not answered 200, and each is answered once.
  tg.failNext("sendMessage", Faults.tooManyRequests(1), 1_000);
  const users = Array.from({ length: 10 }, (_, i) => tg.addUser({ first_name: `W${i}` }));
  const taken = () => tg.deliveries.filter((d) => d.status === 200).length;
  const before = taken();
  for (const user of users) tg.userText(user.id, `burst from ${user.first_name}`);
  await waitFor("half the burst journaled", () => taken() >= before + 5);
  await setup.gateway[Symbol.asyncDispose](); // kill -9
  // And more while no gateway listens: every POST fails until one does.
  const late = Array.from({ length: 3 }, (_, i) => tg.addUser({ first_name: `L${i}` }));
  for (const user of late) tg.userText(user.id, `late from ${user.first_name}`);
  await waitFor("a delivery refused", () => tg.deliveries.some((d) => d.error !== undefined));
  await setup.restart();
  tg.clearFaults();
  users.push(...late);
  await waitFor(
    "every answer of the burst",
    () => users.every((u) => sentTexts(tg, u.id).length > 0),
    30_000,
  );
  assert.ok(tg.deliveries.some((d) => d.attempt > 1), "an update was delivered again");
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  for (const user of [ada, ...users]) {
    assert.equal(sentTexts(tg, user.id).length, 1, `${user.first_name}: ${sentTexts(tg, user.id)}`);
  }
  assert.ok(!sentTexts(tg, ada.id).includes("forged"));
});

Deno.test("a slow streamed reply: drafts then one message in a DM; one message edited at most once a second in a group", async () => {
  const words = Array.from({ length: 24 }, (_, i) => `word${i}`);
  await using openai = startFakeOpenAI({
    tokens: () => words.map((w) => `${w} `),
    tokenDelayMs: 120,
  });
  await using setup = await startTelegramGateway({
    env: { HERMES_MODEL: "fake", OPENAI_BASE_URL: openai.baseUrl, OPENAI_API_KEY: "sk-fake" },
  });
  const { tg } = setup;
  const reply = words.join(" ");

  const ada = tg.addUser({ first_name: "Ada" });
  tg.userText(ada.id, "tell me slowly");
  await waitForText(tg, ada.id, reply, 20_000);
  const drafts = tg.outboundOf("sendMessageDraft").filter((c) =>
    c.ok && Number(c.params.chat_id) === ada.id
  );
  assert.ok(drafts.length >= 2, `${drafts.length} drafts`);
  assert.ok(
    String(drafts.at(-1)!.params.text).length > String(drafts[0]!.params.text).length,
    "the draft grew",
  );
  assert.deepEqual(sentTexts(tg, ada.id), [reply], "one final message");
  assert.equal(
    tg.outboundOf("editMessageText").filter((c) => Number(c.params.chat_id) === ada.id).length,
    0,
  );

  const group = tg.addSupergroup("Team");
  tg.setBotAdmin(group.id);
  tg.userText(group.id, `@${tg.bot.username} tell us slowly`);
  await waitFor(
    "the group's reply in full",
    () => tg.messages(group.id).some((m) => m.from?.is_bot && m.text === reply),
    20_000,
  );
  const sends = tg.outboundOf("sendMessage").filter((c) =>
    c.ok && Number(c.params.chat_id) === group.id
  );
  assert.equal(sends.length, 1, "one message, edited as the reply grows");
  const edits = tg.outboundOf("editMessageText").filter((c) =>
    Number(c.params.chat_id) === group.id
  );
  assert.ok(edits.length >= 1, "edited");
  const times = [sends[0]!, ...edits].map((c) => c.at);
  for (let i = 1; i < times.length; i++) {
    assert.ok(times[i]! - times[i - 1]! >= 900, `operations ${times[i]! - times[i - 1]!} ms apart`);
  }
  const notModified = edits.filter((c) => /not modified/.test(c.error?.description ?? ""));
  assert.ok(notModified.length <= 1, `${notModified.length} "not modified" answers`);
  assert.equal(tg.messages(group.id).filter((m) => m.from?.is_bot).length, 1);
});

Deno.test("a 429 storm across 10 chats: every reply once, never tried again before retry_after", async () => {
  await using setup = await startTelegramGateway();
  const { tg } = setup;
  const users = Array.from({ length: 10 }, (_, i) => tg.addUser({ first_name: `R${i}` }));
  // Every 5th sendMessage is refused with retry_after 3.
  let armedAt = 0;
  const storm = setInterval(() => {
    const calls = tg.outboundOf("sendMessage").length;
    if (calls >= armedAt + 4) {
      armedAt = calls + 1;
      tg.failNext("sendMessage", Faults.tooManyRequests(3));
    }
  }, 5);
  try {
    for (let round = 0; round < 3; round++) {
      for (const user of users) tg.userText(user.id, `round ${round} from ${user.first_name}`);
      await waitFor(
        `round ${round}'s answers`,
        () =>
          users.every((u) => sentTexts(tg, u.id).includes(`round ${round} from ${u.first_name}`)),
        30_000,
      );
    }
  } finally {
    clearInterval(storm);
  }
  const calls = tg.outboundOf("sendMessage");
  const refused = calls.filter((c) => c.error?.error_code === 429);
  assert.ok(refused.length >= 3, `${refused.length} refusals`);
  for (const refusal of refused) {
    const chat = Number(refusal.params.chat_id);
    const next = calls.find((c) => c.at > refusal.at && Number(c.params.chat_id) === chat);
    assert.ok(next, `chat ${chat} was never tried again`);
    assert.ok(
      next.at - refusal.at >= 2_950,
      `chat ${chat} tried again after ${next.at - refusal.at} ms`,
    );
  }
  for (const user of users) {
    const texts = sentTexts(tg, user.id);
    assert.equal(texts.length, 3, `${user.first_name}: ${JSON.stringify(texts)}`);
    assert.equal(new Set(texts).size, 3, "no reply twice");
  }
  const health = await telegramHealth(setup);
  const waits = (health.details as Record<string, { count: number; longest_ms: number }>)
    .flood_waits!;
  assert.equal(waits.count, refused.length);
  assert.equal(waits.longest_ms, 3_000);
});

Deno.test("replies full of what breaks Telegram formatting arrive formatted, in parts of at most 4096 that each parse", async () => {
  const paragraphs = Array.from(
    { length: 90 },
    (_, n) =>
      n % 7 === 0
        ? "```python\n" + `def f_${n}(a, b):  # a < b & (c)\n    return a_b * 2.5\n`.repeat(6) +
          "```"
        : `Paragraph ${n}: call f(x) (see [the docs](https://example.com/a_(b)?q=${n}&r=1)), ` +
          `snake_case_names, 2*3*4, *.ts and a stray _ or . or ! end.`,
  );
  const markdown = paragraphs.join("\n\n");
  assert.ok(markdown.length >= 10_000);
  const chunks = markdown.match(/[\s\S]{1,60}/g)!;
  await using openai = startFakeOpenAI({ tokens: () => chunks });
  await using setup = await startTelegramGateway({
    env: { HERMES_MODEL: "fake", OPENAI_BASE_URL: openai.baseUrl, OPENAI_API_KEY: "sk-fake" },
  });
  const { tg } = setup;
  const ada = tg.addUser({ first_name: "Ada" });
  tg.userText(ada.id, "the long answer, please");
  await waitFor(
    "the answer's last paragraph",
    () => tg.messages(ada.id).some((m) => m.from?.is_bot && m.text?.includes("Paragraph 89")),
    30_000,
  );
  const sends = tg.outboundOf("sendMessage").filter((c) => Number(c.params.chat_id) === ada.id);
  assert.ok(sends.length >= 3, `${sends.length} parts`);
  for (const send of sends) {
    assert.equal(send.ok, true, JSON.stringify(send.error));
    assert.equal(send.params.parse_mode, "HTML", "formatted, not the plain fallback");
  }
  const shown = tg.messages(ada.id).filter((m) => m.from?.is_bot).map((m) => m.text ?? "");
  for (const text of shown) assert.ok(text.length <= 4096, `${text.length} characters`);
  const all = shown.join("\n");
  for (let n = 1; n < 90; n += 7) {
    assert.ok(all.includes(`Paragraph ${n}: call f(x)`), `paragraph ${n}`);
  }
  assert.ok(all.includes("snake_case_names, 2*3*4, *.ts"), "stray characters kept as typed");
  const entityTypes = tg.messages(ada.id).filter((m) => m.from?.is_bot)
    .flatMap((m) => (m.entities ?? []) as { type: string }[]).map((e) => e.type);
  assert.ok(entityTypes.includes("text_link"), "links are links");
  assert.ok(entityTypes.includes("pre"), "code is code");
});

Deno.test("a user's photo and document reach the agent through the media store; a reply's MEDIA: file goes with sendPhoto", async () => {
  await using openai = startFakeOpenAI({
    tokens: (messages) => {
      const last = messages.at(-1) as { content: unknown };
      return Array.isArray(last.content) ? ["seen ", `${last.content.length} parts`] : ["plain"];
    },
  });
  await using setup = await startTelegramGateway({
    env: { HERMES_MODEL: "fake", OPENAI_BASE_URL: openai.baseUrl, OPENAI_API_KEY: "sk-fake" },
  });
  const { tg, home } = setup;
  const ada = tg.addUser({ first_name: "Ada" });
  tg.inbound({ chat: ada.id, photo: PNG, text: "what is this?" });
  await waitForText(tg, ada.id, "seen 2 parts");
  const request = openai.requests.at(-1)!;
  const content = (request.messages as { content: unknown }[]).at(-1)!.content as {
    type: string;
    image_url?: { url: string };
  }[];
  assert.deepEqual(content.map((p) => p.type), ["text", "image_url"]);
  assert.match(content[1]!.image_url!.url, /^data:image\/png;base64,/);

  const report = new TextEncoder().encode("%PDF-1.4\nquarterly numbers\n");
  tg.inbound({
    chat: ada.id,
    document: { bytes: report, fileName: "q3.pdf", mimeType: "application/pdf" },
    text: "and this",
  });
  await waitFor("the document's answer", () => sentTexts(tg, ada.id).length >= 2);
  const cached = await cachedFiles(home);
  assert.ok(
    [...cached.values()].some((bytes) =>
      new TextDecoder().decode(bytes).includes("quarterly numbers")
    ),
    "the document is in the media store",
  );
  assert.equal(
    tg.requests.filter((r) => r.method === "file").length,
    2,
    "both fetched from /file/",
  );
});

Deno.test("a reply's MEDIA: line is sent as a photo, before its text", async () => {
  await using setup = await startTelegramGateway({ env: {} });
  const { tg, home } = setup;
  await Deno.writeTextFile(`${home}/config.yaml`, `agent:\n  media_dirs: [${home}/out]\n`);
  await setup.restart();
  await Deno.mkdir(`${home}/out`);
  await Deno.writeFile(`${home}/out/chart.png`, PNG);
  const ada = tg.addUser({ first_name: "Ada" });
  tg.userText(ada.id, `here it is\nMEDIA:${home}/out/chart.png`);
  await waitForText(tg, ada.id, "here it is");
  const photos = tg.outboundOf("sendPhoto").filter((c) => c.ok);
  assert.equal(photos.length, 1);
  assert.ok(
    photos[0]!.at <= tg.outboundOf("sendMessage").find((c) => c.params.text === "here it is")!.at,
  );
  assert.deepEqual(tg.messages(ada.id).filter((m) => m.from?.is_bot).map((m) => Boolean(m.photo)), [
    true,
    false,
  ]);
});

Deno.test("a user who blocks the bot is listed in status, across restarts, and a part for them is undeliverable after one try", async () => {
  await using setup = await startTelegramGateway();
  const { tg } = setup;
  const ada = tg.addUser({ first_name: "Ada" });
  tg.userText(ada.id, "hello");
  await waitForText(tg, ada.id, "hello");
  tg.block(ada.id);
  await waitFor("the block in status", async () => {
    const details = (await telegramHealth(setup)).details as Record<string, unknown>;
    return JSON.stringify(details.undeliverable_chats) === JSON.stringify([String(ada.id)]);
  });
  const result = await runHermes(["send", `telegram:${ada.id}`, "are you there?", "--json"], {
    home: setup.home,
    env: { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${setup.home}/locks` },
  });
  assert.notEqual(result.code, 0, result.stdout);
  const rows = JSON.parse(result.stdout) as { state: string; last_code?: string }[];
  assert.equal(rows[0]!.state, "undeliverable", result.stdout);
  const tries = tg.outboundOf("sendMessage").filter((c) => c.params.text === "are you there?");
  assert.equal(tries.length, 1, "a block is never retried");
  assert.equal(tries[0]!.error?.error_code, 403);
  // A restart forgets nothing of it.
  await setup.restart();
  const details = (await telegramHealth(setup)).details as Record<string, unknown>;
  assert.deepEqual(details.undeliverable_chats, [String(ada.id)]);
});

Deno.test("an album and a long text the client split reach the agent as one message each", async () => {
  await using setup = await startTelegramGateway();
  const { tg, home } = setup;
  const ada = tg.addUser({ first_name: "Ada" });
  const long = Array.from({ length: 2_000 }, (_, i) => `w${i}`).join(" ");
  assert.ok(long.length > 8_192);
  assert.equal(tg.userLongText(ada.id, long).length, 3);
  await waitFor(
    "the long text's answer",
    () =>
      tg.messages(ada.id).filter((m) => m.from?.is_bot).map((m) => m.text).join("").includes(
        "w1999",
      ),
    20_000,
  );
  const answers = tg.outboundOf("sendMessage").filter((c) => c.ok);
  const words = (text: string) => text.split(/\s+/).filter(Boolean);
  // One answer, the whole text (its parts cut at spaces).
  assert.deepEqual(words(answers.map((c) => String(c.params.text)).join(" ")), words(long));
  assert.ok(answers.every((c) => c.params.reply_parameters !== undefined));

  const photos = [1, 2, 3].map((n) => Uint8Array.from([...PNG, n]));
  tg.userAlbum(ada.id, photos, { caption: "three pictures" });
  await waitForText(tg, ada.id, "three pictures");
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal(sentTexts(tg, ada.id).filter((t) => t === "three pictures").length, 1);
  assert.equal(sentTexts(tg, ada.id).length, answers.length + 1, "no answer per picture");
  assert.equal((await cachedFiles(home)).size, 3, "the three pictures went with the one message");
});

Deno.test("an album whose first picture was journaled alone before a crash: the rest is answered when Telegram delivers them together", async () => {
  await using setup = await startTelegramGateway();
  const { tg, home } = setup;
  const ada = tg.addUser({ first_name: "Ada" });
  const [early] = tg.userAlbum(ada.id, [Uint8Array.from([...PNG, 1])], {
    caption: "first picture",
  });
  // Telegram never hears the offset that confirms it (every poll past it fails) ...
  const first = early!.update!.update_id;
  tg.failNext("getUpdates", Faults.internal, 1_000_000, (p) => Number(p.offset) > first);
  await waitForText(tg, ada.id, "first picture", 20_000);
  tg.userAlbum(ada.id, [Uint8Array.from([...PNG, 2])], {
    captions: ["second picture"],
    mediaGroupId: String(early!.message.media_group_id),
  });
  // ... and the gateway dies before its offset file says it took the first picture.
  await setup.gateway[Symbol.asyncDispose](); // kill -9
  Deno.writeTextFileSync(
    `${home}/platforms/telegram/offset-${tg.bot.id}.json`,
    JSON.stringify({ offset: first }),
  );
  tg.clearFaults();
  await setup.restart();
  await waitForText(tg, ada.id, "second picture", 20_000);
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // time for a double to show
  assert.deepEqual(sentTexts(tg, ada.id), ["first picture", "second picture"]);
});

Deno.test("the command menu shows users the commands of their tier, an admin every command in their DM, until they are no admin", async () => {
  let admin = 0;
  await using setup = await startTelegramGateway({
    config: (tg) => {
      admin = tg.addUser({ first_name: "Root" }).id;
      return `telegram:\n  user_commands: [status]\n  admin_from: ["${admin}"]\n`;
    },
  });
  const { tg } = setup;
  const names = (scope?: Record<string, unknown>) =>
    (tg.commands(scope) as { command: string }[]).map((c) => c.command).sort();
  await waitFor("the admin's menu", () => names({ type: "chat", chat_id: admin }).length > 0);
  assert.deepEqual(names(), ["help", "status", "whoami"]);
  assert.deepEqual(names({ type: "chat", chat_id: admin }), [
    "help",
    "new",
    "queue",
    "reset",
    "status",
    "stop",
    "whoami",
  ]);

  // Root is no admin any more: after a restart their DM shows everyone's menu again.
  await Deno.writeTextFile(`${setup.home}/config.yaml`, "telegram:\n  user_commands: [status]\n");
  const deletes = () => tg.outboundOf("deleteMyCommands").filter((c) => c.ok).length;
  await setup.restart();
  await waitFor("the old menu deleted", () => deletes() === 1);
  assert.deepEqual(names({ type: "chat", chat_id: admin }), []);
  assert.deepEqual(names(), ["help", "status", "whoami"]);
});

Deno.test("in a forum, typing shows in the General topic and in a topic, though sends to General name no thread", async () => {
  await using setup = await startTelegramGateway();
  const { tg } = setup;
  const ada = tg.addUser({ first_name: "Ada" });
  const forum = tg.addSupergroup("Forum", { forum: true });
  const topic = tg.createTopic(forum.id, "Plans");
  tg.setBotAdmin(forum.id); // past privacy mode, which holds plain mentions back
  tg.userText(forum.id, `@${tg.bot.username} in General`, { from: ada.id });
  tg.userText(forum.id, `@${tg.bot.username} in Plans`, { from: ada.id, threadId: topic });
  await waitForText(tg, forum.id, `@${tg.bot.username} in General`);
  await waitForText(tg, forum.id, `@${tg.bot.username} in Plans`);
  const threads = (method: string) =>
    tg.outboundOf(method).filter((c) => c.ok).map((c) => c.params.message_thread_id);
  assert.deepEqual([...new Set(threads("sendChatAction"))].sort(), [1, topic]);
  assert.deepEqual(threads("sendMessage").sort(), [topic, undefined]);
});

Deno.test("webhook mode: an album's items, POSTed at once, reach the agent as one message", async () => {
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = free.addr.port;
  free.close();
  await using setup = await startTelegramGateway({
    env: {
      TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${port}/telegram/hook`,
      TELEGRAM_WEBHOOK_SECRET: "webhook-secret-0123456789",
      TELEGRAM_WEBHOOK_HOST: "127.0.0.1",
      TELEGRAM_WEBHOOK_PORT: String(port),
    },
  });
  const { tg, home } = setup;
  await waitFor("setWebhook", () => tg.outboundOf("setWebhook").some((c) => c.ok));
  const ada = tg.addUser({ first_name: "Ada" });
  const photos = [1, 2, 3].map((n) => Uint8Array.from([...PNG, n]));
  tg.userAlbum(ada.id, photos, { caption: "three by webhook" });
  await waitForText(tg, ada.id, "three by webhook");
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // time for a second answer to show
  assert.deepEqual(sentTexts(tg, ada.id), ["three by webhook"]);
  assert.equal((await cachedFiles(home)).size, 3, "the three pictures went with the one message");
  assert.ok(tg.deliveries.slice(0, 3).every((d) => d.status === 200 && d.attempt === 1));
});

Deno.test("one chat waiting out its 429 holds up no other chat", async () => {
  await using setup = await startTelegramGateway();
  const { tg } = setup;
  const [waiting, ...others] = Array.from(
    { length: 6 },
    (_, i) => tg.addUser({ first_name: `S${i}` }),
  );
  tg.failNext("sendMessage", Faults.tooManyRequests(3));
  tg.userText(waiting!.id, "me first");
  await waitFor(
    "the refusal",
    () => tg.outboundOf("sendMessage").some((c) => c.error?.error_code === 429),
  );
  const refusedAt = tg.outboundOf("sendMessage").find((c) => c.error?.error_code === 429)!.at;
  for (const user of others) tg.userText(user.id, `and ${user.first_name}`);
  await waitFor("the others' answers", () => others.every((u) => sentTexts(tg, u.id).length === 1));
  await waitForText(tg, waiting!.id, "me first");
  const calls = tg.outboundOf("sendMessage").filter((c) => c.ok);
  const retried = calls.find((c) => Number(c.params.chat_id) === waiting!.id)!;
  assert.ok(retried.at - refusedAt >= 2_950, `tried again after ${retried.at - refusedAt} ms`);
  for (const user of others) {
    const answer = calls.find((c) => Number(c.params.chat_id) === user.id)!;
    assert.ok(answer.at < retried.at, `${user.first_name} waited for the other chat's 429`);
  }
});

Deno.test("webhook mode: a webhook Telegram cannot reach reads degraded, naming why", async () => {
  const ports = [0, 0].map(() => {
    const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = free.addr.port;
    free.close();
    return port;
  });
  await using setup = await startTelegramGateway({
    env: {
      // Telegram is told one address; the gateway listens on another (a proxy that does not forward).
      TELEGRAM_WEBHOOK_URL: `http://127.0.0.1:${ports[0]}/telegram/hook`,
      TELEGRAM_WEBHOOK_SECRET: "webhook-secret-0123456789",
      TELEGRAM_WEBHOOK_HOST: "127.0.0.1",
      TELEGRAM_WEBHOOK_PORT: String(ports[1]),
      TELEGRAM_WEBHOOK_CHECK_SECONDS: "1",
    },
    server: { webhookRetryMs: 200 },
  });
  const { tg } = setup;
  await waitFor("setWebhook", () => tg.outboundOf("setWebhook").some((c) => c.ok));
  tg.userText(tg.addUser({ first_name: "Ada" }).id, "can you hear me?");
  await waitFor(
    "the link to read degraded",
    async () => (await telegramHealth(setup)).state === "degraded",
    15_000,
  );
  const health = await telegramHealth(setup);
  const error = health.last_error as { code: string; message: string };
  assert.equal(error.code, "webhook_failing");
  assert.match(error.message, /cannot deliver to the webhook: .*1 update\(s\) waiting/);
});

Deno.test("under privacy mode a group's plain message never reaches the bot, a command for it does", async () => {
  await using setup = await startTelegramGateway();
  const { tg } = setup;
  const group = tg.addSupergroup("Team"); // the bot is no admin: Telegram's privacy mode applies
  const bob = tg.addUser({ first_name: "Bob" });
  assert.equal(tg.userText(group.id, "lunch anyone?", { from: bob.id }).update, undefined);
  tg.userCommand(group.id, "status", "", { from: bob.id });
  await waitFor("an answer to the command", () => sentTexts(tg, group.id).length === 1);
  assert.ok(!sentTexts(tg, group.id).some((t) => t.includes("lunch")));
  assert.match(setup.gateway.stderr(), /Privacy mode is on/);
});

Deno.test("a group that becomes a supergroup keeps its conversation: replies go to the supergroup, the session goes on", async () => {
  await using setup = await startTelegramGateway({ server: { canReadAllGroupMessages: true } });
  const { tg } = setup;
  const group = tg.addGroup("Team");
  const bob = tg.addUser({ first_name: "Bob" });
  tg.userText(group.id, `@${tg.bot.username} before the upgrade`, { from: bob.id });
  await waitForText(tg, group.id, `@${tg.bot.username} before the upgrade`);
  const supergroup = tg.migrate(group.id);
  tg.userText(supergroup, `@${tg.bot.username} after the upgrade`, { from: bob.id });
  await waitForText(tg, supergroup, `@${tg.bot.username} after the upgrade`);
  const sessions = await runHermes(["sessions", "list", "--json"], {
    home: setup.home,
    env: { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${setup.home}/locks` },
  });
  const list = JSON.parse(sessions.stdout) as { key: string; message_count: number }[];
  assert.equal(list.length, 1, sessions.stdout);
  assert.match(list[0]!.key, new RegExp(`:group:${group.id}:`));
  assert.equal(list[0]!.message_count, 4, "both exchanges in one session");
});
