import assert from "node:assert/strict";
import { call } from "./_telegram_test_helpers.ts";
import {
  CONFLICT_OTHER_POLL,
  CONFLICT_SET_WEBHOOK,
  CONFLICT_WEBHOOK_ACTIVE,
  TelegramServer,
} from "./telegram_server.ts";

const ids = (reply: { json: { result: { update_id: number }[] } }) =>
  reply.json.result.map((u) => u.update_id);

Deno.test("getUpdates holds until the timeout and answers [] when nothing comes", async () => {
  await using tg = await TelegramServer.start();
  const started = performance.now();
  const reply = await call(tg, "getUpdates", { timeout: 0.3 });
  const held = performance.now() - started;
  assert.ok(held >= 280 && held < 2000, `held ${held} ms`);
  assert.deepEqual(reply.json, { ok: true, result: [] });
  const short = performance.now();
  await call(tg, "getUpdates", { timeout: 0 });
  assert.ok(performance.now() - short < 250, "timeout 0 is a short poll");
});

Deno.test("maxLongPollMs caps the hold of a large timeout (the 50 s clamp, scaled for tests)", async () => {
  await using tg = await TelegramServer.start({ maxLongPollMs: 200 });
  const started = performance.now();
  await call(tg, "getUpdates", { timeout: 3600 });
  const held = performance.now() - started;
  assert.ok(held >= 180 && held < 1500, `held ${held} ms`);
});

Deno.test("a held poll answers as soon as an update arrives", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const started = performance.now();
  const poll = call(tg, "getUpdates", { timeout: 10 });
  await tg.waitForPoll();
  tg.userText(ada.id, "hi");
  const reply = await poll;
  assert.ok(performance.now() - started < 2000);
  assert.equal(reply.json.result[0].message.text, "hi");
});

Deno.test("offset last+1 confirms, no offset replays, -N keeps the last N, limit clamps to 1-100", async () => {
  await using tg = await TelegramServer.start({ firstUpdateId: 500 });
  const ada = tg.addUser();
  for (const text of ["a", "b", "c", "d", "e"]) tg.userText(ada.id, text);
  assert.deepEqual(ids(await call(tg, "getUpdates", {})), [500, 501, 502, 503, 504]);
  assert.deepEqual(ids(await call(tg, "getUpdates", {})), [500, 501, 502, 503, 504], "unconfirmed");
  assert.deepEqual(ids(await call(tg, "getUpdates", { offset: 501, limit: 2 })), [501, 502]);
  assert.deepEqual(ids(await call(tg, "getUpdates", {})), [501, 502, 503, 504], "500 is gone");
  assert.deepEqual(ids(await call(tg, "getUpdates", { limit: 0 })), [501], "limit 0 becomes 1");
  assert.deepEqual(ids(await call(tg, "getUpdates", { offset: -2 })), [503, 504]);
  assert.deepEqual(ids(await call(tg, "getUpdates", {})), [503, 504], "-2 forgot the rest");
  assert.deepEqual(ids(await call(tg, "getUpdates", { offset: 505 })), []);
  tg.userText(ada.id, "f");
  assert.deepEqual(ids(await call(tg, "getUpdates", { offset: 505 })), [505], "ids keep counting");
});

Deno.test("updates expire 24 h after they were queued, on the injected clock", async () => {
  let now = Date.UTC(2026, 2, 1);
  await using tg = await TelegramServer.start({ clock: () => now });
  const ada = tg.addUser();
  tg.userText(ada.id, "old");
  now += 23 * 3600_000;
  tg.userText(ada.id, "new");
  assert.equal(tg.pendingUpdates().length, 2);
  now += 3600_000;
  const reply = await call(tg, "getUpdates", {});
  assert.deepEqual(reply.json.result.map((u: { message: { text: string } }) => u.message.text), [
    "new",
  ]);
  tg.advanceClock(23 * 3600_000);
  assert.deepEqual(tg.pendingUpdates(), []);
});

Deno.test("allowed_updates is sticky and filters what is queued afterwards", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  await call(tg, "getUpdates", { allowed_updates: ["callback_query"] });
  tg.userText(ada.id, "dropped");
  await call(tg, "getUpdates", {});
  tg.userText(ada.id, "still dropped");
  assert.equal(tg.pendingUpdates().length, 0);
  await call(tg, "getUpdates", { allowed_updates: "[]" });
  tg.userText(ada.id, "kept");
  assert.equal(tg.pendingUpdates().length, 1);
});

Deno.test("a second long poll ends the older one with 409; the newer one gets the update", async () => {
  await using tg = await TelegramServer.start({ conflictGapMs: 300 });
  const ada = tg.addUser();
  const older = call(tg, "getUpdates", { timeout: 10 });
  await tg.waitForPoll();
  const newer = call(tg, "getUpdates", { timeout: 10 });
  const refused = await older;
  assert.equal(refused.status, 409);
  assert.deepEqual(refused.json, { ok: false, error_code: 409, description: CONFLICT_OTHER_POLL });
  await tg.waitForPoll();
  tg.userText(ada.id, "for the survivor");
  assert.equal((await newer).json.result[0].message.text, "for the survivor");
});

Deno.test("at most one 409 per conflict gap: the next one waits its turn", async () => {
  await using tg = await TelegramServer.start({ conflictGapMs: 400 });
  const polls: { at: Promise<number>; status: Promise<number> }[] = [];
  const start = performance.now();
  for (let i = 0; i < 3; i++) {
    const reply = call(tg, "getUpdates", { timeout: 0.2 * (i === 2 ? 1 : 50) });
    polls.push({
      at: reply.then(() => performance.now() - start),
      status: reply.then((r) => r.status),
    });
    await tg.waitForPoll();
  }
  const [first, second, third] = polls;
  assert.equal(await first!.status, 409);
  assert.equal(await second!.status, 409);
  assert.equal(await third!.status, 200);
  const gap = (await second!.at) - (await first!.at);
  assert.ok(gap >= 350, `second 409 came ${gap} ms after the first`);
});

Deno.test("while a webhook is set getUpdates is 409; setWebhook ends a pending poll; deleteWebhook restores polling", async () => {
  await using tg = await TelegramServer.start({ conflictGapMs: 0 });
  const ada = tg.addUser();
  const pending = call(tg, "getUpdates", { timeout: 10 });
  await tg.waitForPoll();
  await using hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("busy", { status: 500 }),
  );
  const set = await call(tg, "setWebhook", { url: `http://127.0.0.1:${hook.addr.port}/hook` });
  assert.deepEqual(set.json, { ok: true, result: true, description: "Webhook was set" });
  assert.equal((await pending).json.description, CONFLICT_SET_WEBHOOK);
  const refused = await call(tg, "getUpdates", {});
  assert.equal(refused.status, 409);
  assert.equal(refused.json.description, CONFLICT_WEBHOOK_ACTIVE);
  const info = (await call(tg, "getWebhookInfo")).json.result;
  assert.equal(info.url, `http://127.0.0.1:${hook.addr.port}/hook`);
  tg.userText(ada.id, "queued");
  const tooSoon = await call(tg, "deleteWebhook", { drop_pending_updates: true });
  assert.equal(tooSoon.status, 429, "one webhook change per second");
  assert.equal(tooSoon.json.parameters.retry_after, 1);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const deleted = await call(tg, "deleteWebhook", { drop_pending_updates: true });
  assert.equal(deleted.json.description, "Webhook was deleted");
  assert.equal((await call(tg, "getWebhookInfo")).json.result.url, "");
  assert.deepEqual((await call(tg, "getUpdates", {})).json.result, [], "dropped");
  const again = await call(tg, "deleteWebhook", {});
  assert.equal(again.json.description, "Webhook is already deleted");
});

Deno.test("deleteWebhook without drop_pending_updates keeps the backlog", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  tg.userText(ada.id, "backlog");
  assert.equal((await call(tg, "deleteWebhook", { drop_pending_updates: false })).status, 200);
  assert.equal((await call(tg, "getUpdates", {})).json.result.length, 1);
  assert.equal((await call(tg, "getWebhookInfo")).json.result.pending_update_count, 1);
});
