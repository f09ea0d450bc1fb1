import assert from "node:assert/strict";
import { WebhookListener } from "../../../lib/platforms/telegram/webhook.ts";
import type { TgUpdate } from "../../../lib/platforms/telegram/inbound.ts";
import { Logger } from "../../../lib/util/log.ts";
import { SecretMasker } from "../../../lib/util/secret_mask.ts";

const SECRET = "a-secret-of-24-characters";
const quiet = () => new Logger({ level: "error", sinks: [], masker: new SecretMasker() });

function listen(onUpdate: (update: TgUpdate) => Promise<void>) {
  const listener = WebhookListener.listen({
    hostname: "127.0.0.1",
    port: 0,
    path: "/hook/telegram",
    secret: SECRET,
    log: quiet(),
    onUpdate,
  });
  const post = (body: string, secret?: string, path = "/hook/telegram") =>
    fetch(`http://127.0.0.1:${listener.port}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(secret !== undefined ? { "x-telegram-bot-api-secret-token": secret } : {}),
      },
      body,
    });
  return { listener, post, [Symbol.asyncDispose]: () => listener.close() };
}

const UPDATE = JSON.stringify({
  update_id: 9,
  message: { message_id: 1, date: 1, chat: { id: 1, type: "private" }, text: "hi" },
});

Deno.test("an update with the right secret is answered 200 only once it is taken", async () => {
  let release!: () => void;
  const taken: number[] = [];
  await using hook = listen(async (update) => {
    await new Promise<void>((resolve) => release = resolve);
    taken.push(update.update_id);
  });
  let answered = false;
  const response = hook.post(UPDATE, SECRET).then((r) => (answered = true, r));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(answered, false, "no answer while the update is being journaled");
  release();
  const r = await response;
  assert.equal(r.status, 200);
  await r.body?.cancel();
  assert.deepEqual(taken, [9]);
});

Deno.test("a wrong or missing secret gets 401 and nothing is taken", async () => {
  const taken: number[] = [];
  await using hook = listen((update) => (taken.push(update.update_id), Promise.resolve()));
  for (const secret of [undefined, "", "a-secret-of-24-characterz", SECRET.slice(0, -1)]) {
    const r = await hook.post(UPDATE, secret);
    assert.equal(r.status, 401, `secret ${secret}`);
    await r.body?.cancel();
  }
  assert.deepEqual(taken, []);
});

Deno.test("an update that cannot be journaled is answered 503, so Telegram sends it again", async () => {
  await using hook = listen(() => Promise.reject(new Error("database is locked")));
  const r = await hook.post(UPDATE, SECRET);
  assert.equal(r.status, 503);
  await r.body?.cancel();
});

Deno.test("other paths, other methods and malformed bodies take nothing", async () => {
  const taken: number[] = [];
  await using hook = listen((update) => (taken.push(update.update_id), Promise.resolve()));
  const elsewhere = await hook.post(UPDATE, SECRET, "/other");
  assert.equal(elsewhere.status, 404);
  await elsewhere.body?.cancel();
  const get = await fetch(`http://127.0.0.1:${hook.listener.port}/hook/telegram`);
  assert.equal(get.status, 405);
  await get.body?.cancel();
  const malformed = await hook.post("{not json", SECRET);
  assert.equal(malformed.status, 200, "Telegram would only send it again");
  await malformed.body?.cancel();
  assert.deepEqual(taken, []);
});
