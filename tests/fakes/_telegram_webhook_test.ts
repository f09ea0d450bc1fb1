import assert from "node:assert/strict";
import { call } from "./_telegram_test_helpers.ts";
import { TelegramServer } from "./telegram_server.ts";
import { waitFor } from "../gateway/_gateway.ts";

interface Hit {
  body: { update_id: number; message?: { text: string } };
  secret: string | null;
  at: number;
}

/** A webhook receiver answering each POST with the next scripted Response (the last repeats). */
function receiver(script: (() => Response)[]) {
  const hits: Hit[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    hits.push({
      body: await request.json(),
      secret: request.headers.get("x-telegram-bot-api-secret-token"),
      at: performance.now(),
    });
    return script[Math.min(hits.length - 1, script.length - 1)]!();
  });
  return { hits, server, url: `http://127.0.0.1:${server.addr.port}/tg` };
}

Deno.test("setWebhook delivers each update by POST with the secret header, in order, and confirms it", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const hook = receiver([() => new Response("ok")]);
  await using _ = hook.server;
  tg.userText(ada.id, "one");
  const set = await call(tg, "setWebhook", {
    url: hook.url,
    secret_token: "s3cr3t_-X",
    max_connections: 5,
  });
  assert.equal(set.json.result, true);
  tg.userText(ada.id, "two");
  const deliveries = await tg.waitForDeliveries(2);
  assert.deepEqual(hook.hits.map((h) => [h.body.message?.text, h.secret]), [["one", "s3cr3t_-X"], [
    "two",
    "s3cr3t_-X",
  ]]);
  assert.deepEqual(deliveries.map((d) => [d.update_id, d.status, d.attempt]), [[1, 200, 1], [
    2,
    200,
    1,
  ]]);
  const info = (await call(tg, "getWebhookInfo")).json.result;
  assert.equal(info.url, hook.url);
  assert.equal(info.max_connections, 5);
  assert.equal(info.pending_update_count, 0);
});

Deno.test("secret_token must be 1-256 of A-Za-z0-9_-", async () => {
  await using tg = await TelegramServer.start();
  for (const secret of ["has space", "ünï", "x".repeat(257)]) {
    const reply = await call(tg, "setWebhook", {
      url: "http://127.0.0.1:9/x",
      secret_token: secret,
    });
    assert.equal(reply.status, 400, secret);
    assert.equal(reply.json.description, "Bad Request: secret token contains unallowed characters");
  }
  assert.equal((await call(tg, "getWebhookInfo")).json.result.url, "");
});

Deno.test("a non-2xx answer is retried after the base delay, doubling; the error shows in getWebhookInfo", async () => {
  await using tg = await TelegramServer.start({ webhookRetryMs: 100 });
  const ada = tg.addUser();
  const hook = receiver([
    () => new Response("no", { status: 500 }),
    () => new Response("no", { status: 502 }),
    () => new Response("ok"),
  ]);
  await using _ = hook.server;
  await call(tg, "setWebhook", { url: hook.url });
  tg.userText(ada.id, "retry me");
  await tg.waitForDeliveries(2);
  const info = (await call(tg, "getWebhookInfo")).json.result;
  assert.equal(typeof info.last_error_date, "number");
  assert.match(info.last_error_message, /500|502/);
  const deliveries = await tg.waitForDeliveries(3);
  assert.deepEqual(deliveries.map((d) => [d.status, d.attempt]), [[500, 1], [502, 2], [200, 3]]);
  const [a, b, c] = hook.hits.map((h) => h.at);
  assert.ok(b! - a! >= 90, `first retry after ${b! - a!} ms`);
  assert.ok(c! - b! >= 190, `second retry after ${c! - b!} ms (doubled)`);
  assert.equal(tg.pendingUpdates().length, 0);
});

Deno.test("a Retry-After in the webhook's answer is honoured over the backoff", async () => {
  await using tg = await TelegramServer.start({ webhookRetryMs: 20 });
  const ada = tg.addUser();
  const hook = receiver([
    () => new Response("slow down", { status: 429, headers: { "retry-after": "1" } }),
    () => new Response("ok"),
  ]);
  await using _ = hook.server;
  await call(tg, "setWebhook", { url: hook.url });
  tg.userText(ada.id, "later");
  await tg.waitForDeliveries(2);
  const [a, b] = hook.hits.map((h) => h.at);
  assert.ok(b! - a! >= 950, `retried after ${b! - a!} ms`);
});

Deno.test("a method in a 2xx answer is executed (and logged), its result never reported", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  const hook = receiver([
    () => Response.json({ method: "sendMessage", chat_id: ada.id, text: "from the hook" }),
  ]);
  await using _ = hook.server;
  await call(tg, "setWebhook", { url: hook.url });
  tg.userText(ada.id, "hi");
  const [sent] = await tg.waitForOutbound("sendMessage", 1);
  assert.equal(sent?.ok, true);
  assert.deepEqual(tg.messages(ada.id).map((m) => m.text), ["hi", "from the hook"]);
});

Deno.test("up to max_connections updates are in flight at once: one held does not hold up the next", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const bodies: number[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = await request.json();
    bodies.push(body.update_id);
    if (body.message?.text === "slow") await held;
    return new Response("ok");
  });
  await using _ = server;
  tg.userText(ada.id, "slow");
  tg.userText(ada.id, "quick");
  await call(tg, "setWebhook", { url: `http://127.0.0.1:${server.addr.port}/tg` });
  try {
    await waitFor("the second answered", () => tg.deliveries[1]?.status === 200);
    assert.equal(tg.deliveries[0]!.status, undefined, "the first is still in flight");
  } finally {
    release();
  }
  await waitFor("the first answered", () => tg.deliveries[0]!.status === 200);
  assert.deepEqual(bodies, [1, 2]);
});

Deno.test("with max_connections 1 the next update waits for the one in flight", async () => {
  await using tg = await TelegramServer.start();
  const ada = tg.addUser();
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = await request.json();
    if (body.message?.text === "slow") await held;
    return new Response("ok");
  });
  await using _ = server;
  tg.userText(ada.id, "slow");
  tg.userText(ada.id, "quick");
  await call(tg, "setWebhook", {
    url: `http://127.0.0.1:${server.addr.port}/tg`,
    max_connections: 1,
  });
  try {
    await waitFor("the first in flight", () => tg.deliveries.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(tg.deliveries.length, 1, "nothing else in flight");
  } finally {
    release();
  }
  await tg.waitForDeliveries(2);
});
