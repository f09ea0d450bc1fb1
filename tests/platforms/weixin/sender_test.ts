import assert from "node:assert/strict";
import { IlinkClient, IlinkError } from "../../../lib/platforms/weixin/api.ts";
import { RateLimitBreaker } from "../../../lib/platforms/weixin/breaker.ts";
import { type Outgoing, WeixinSender } from "../../../lib/platforms/weixin/sender.ts";
import { lineSink, Logger } from "../../../lib/util/log.ts";
import { SecretMasker } from "../../../lib/util/secret_mask.ts";
import { Faults, IlinkServer } from "../../fakes/ilink_server.ts";

const PEER = "u-1@im.wechat";
const RETRY_DELAY_MS = 40;

/** The simulator, a client of it and a sender recording the tokens it was told are stale. */
async function setup(options: { retries?: number; threshold?: number } = {}) {
  const ilink = await IlinkServer.start({ longPollMs: 300 });
  const api = new IlinkClient({ baseUrl: ilink.url, token: ilink.token });
  const stale: string[] = [];
  const lines: string[] = [];
  const breaker = new RateLimitBreaker({
    threshold: options.threshold ?? 1,
    windowMs: 30_000,
    openMs: 30_000,
  });
  const sender = new WeixinSender({
    breaker,
    log: new Logger({
      level: "debug",
      sinks: [lineSink("json", (line) => lines.push(line))],
      masker: new SecretMasker(),
    }),
    retries: options.retries ?? 4,
    retryDelayMs: RETRY_DELAY_MS,
    onStaleToken: (token) => stale.push(token),
  });
  let n = 0;
  const message = (text: string, extra: Partial<Outgoing> = {}): Outgoing => ({
    toUserId: PEER,
    clientId: `hermes-weixin-${++n}`,
    items: [{ type: 1, text_item: { text } }],
    ...extra,
  });
  const send = (text: string, extra: Partial<Outgoing> = {}) =>
    sender.send(api, message(text, extra));
  return {
    ilink,
    api,
    sender,
    breaker,
    stale,
    lines,
    send,
    /** The msg object of each sendmessage request. */
    tried: () =>
      ilink.requestsTo("sendmessage").map((r) => (r.body as { msg: Record<string, unknown> }).msg),
    [Symbol.asyncDispose]: () => ilink.close(),
  };
}

Deno.test("a message goes out once, in the shape of 3.7, with the peer's context token", async () => {
  await using s = await setup();
  const token = s.ilink.rotateContextToken(PEER);
  assert.deepEqual(await s.send("hello", { contextToken: token }), { sent: true });
  const [sent] = await s.ilink.waitForSent(1);
  assert.equal(sent?.text, "hello");
  assert.equal(sent?.contextToken, token);
  assert.deepEqual(sent?.msg, {
    from_user_id: "",
    to_user_id: PEER,
    client_id: "hermes-weixin-1",
    message_type: 2,
    message_state: 2,
    item_list: [{ type: 1, text_item: { text: "hello" } }],
    context_token: token,
  });
  assert.deepEqual(s.stale, []);
});

Deno.test("a stale context token is dropped and the message sent once more without it", async (t) => {
  await using s = await setup();
  await t.step("−14 for a token that is no longer the peer's", async () => {
    const old = s.ilink.rotateContextToken(PEER);
    s.ilink.rotateContextToken(PEER);
    assert.deepEqual(await s.send("hi", { contextToken: old }), { sent: true });
    const tried = s.tried();
    assert.equal(tried.length, 2);
    assert.equal(tried[0]?.context_token, old);
    assert.equal("context_token" in tried[1]!, false, "the resend has no token");
    assert.equal(tried[1]?.client_id, tried[0]?.client_id);
    assert.deepEqual(s.stale, [old]);
    assert.equal(s.ilink.sent.length, 1);
    assert.equal(s.ilink.sent[0]?.text, "hi");
    assert.equal(s.ilink.sent[0]?.contextToken, undefined);
  });
  await t.step("−2 unknown error", async () => {
    const current = s.ilink.contextToken(PEER)!;
    s.ilink.failNext("sendmessage", Faults.unknownError);
    assert.deepEqual(await s.send("again", { contextToken: current }), { sent: true });
    assert.equal(s.tried().length, 4);
    assert.deepEqual(s.stale.at(-1), current);
    assert.equal(s.ilink.sent.length, 2);
  });
});

Deno.test("a stale session that persists is not sent: the user must write to the bot first", async (t) => {
  await using s = await setup({ threshold: 1 });
  await t.step("stale with the token and without it", async () => {
    const token = s.ilink.rotateContextToken(PEER);
    s.ilink.failNext("sendmessage", Faults.prepareFailed, 2);
    const outcome = await s.send("hi", { contextToken: token });
    assert.equal(outcome.sent, false);
    assert.match(
      (outcome as { reason: string }).reason,
      /session not ready.*the user must send the bot a message first/,
    );
    assert.equal(s.tried().length, 2, "one tokenless resend, no retries");
    assert.deepEqual(s.stale, [token]);
    assert.equal(s.ilink.sent.length, 0);
  });
  await t.step("stale with no token to drop", async () => {
    s.ilink.failNext("sendmessage", Faults.sessionExpired);
    const outcome = await s.send("hi");
    assert.equal(outcome.sent, false);
    assert.match(
      (outcome as { reason: string }).reason,
      /the user must send the bot a message first/,
    );
    assert.equal(s.tried().length, 3, "not retried");
  });
  await t.step("it did not feed the rate-limit breaker", async () => {
    assert.equal(s.breaker.remainingMs(), 0);
    assert.deepEqual(await s.send("later"), { sent: true });
    assert.equal(s.ilink.sent.length, 1);
  });
});

Deno.test("a dropped connection is retried with the same client_id and delivered once", async () => {
  await using s = await setup();
  s.ilink.failNext("sendmessage", { drop: true });
  assert.deepEqual(await s.send("hi"), { sent: true });
  const requests = s.ilink.requestsTo("sendmessage");
  assert.equal(requests.length, 2);
  const [first, second] = s.tried();
  assert.equal(second?.client_id, first?.client_id);
  assert.ok(requests[1]!.at - requests[0]!.at >= RETRY_DELAY_MS - 5, "it waited before the retry");
  assert.equal(s.ilink.sent.length, 1);
  assert.ok(s.lines.some((line) => line.includes("same client_id")), s.lines.join("\n"));
});

Deno.test("a retry of a message iLink already took keeps its client_id and is not delivered twice", async () => {
  await using s = await setup();
  // A server error after the first try: the retry carries the same client_id, and the
  // simulator (like iLink) takes a client_id once.
  await s.send("once", { clientId: "hermes-weixin-fixed" });
  s.ilink.failNext("sendmessage", { http: 500 });
  assert.deepEqual(await s.send("once", { clientId: "hermes-weixin-fixed" }), { sent: true });
  assert.equal(s.ilink.sent.length, 1);
  assert.deepEqual(s.tried().map((m) => m.client_id), Array(3).fill("hermes-weixin-fixed"));
});

Deno.test("a send whose retries all fail throws, and the next send still goes", async () => {
  await using s = await setup({ retries: 2 });
  s.ilink.failAlways("sendmessage", { drop: true });
  const failed = await s.send("hi").catch((error) => error);
  assert.ok(failed instanceof IlinkError, String(failed));
  assert.equal(failed.kind, "network");
  const requests = s.ilink.requestsTo("sendmessage");
  assert.equal(requests.length, 3, "the first try and 2 retries");
  assert.equal(new Set(s.tried().map((m) => m.client_id)).size, 1);
  const gaps = requests.slice(1).map((r, i) => r.at - requests[i]!.at);
  assert.ok(gaps[0]! >= RETRY_DELAY_MS - 5, `1st wait ${gaps[0]} ms`);
  assert.ok(gaps[1]! >= 2 * RETRY_DELAY_MS - 5, `2nd wait ${gaps[1]} ms (attempt × delay)`);
  assert.equal(s.ilink.sent.length, 0);
  s.ilink.failAlways("sendmessage", null);
  assert.deepEqual(await s.send("next"), { sent: true });
  assert.equal(s.ilink.sent[0]?.text, "next");
});

Deno.test("an error iLink refuses outright is thrown at once, not retried", async (t) => {
  await using s = await setup();
  await t.step("another nonzero ret", async () => {
    s.ilink.failNext("sendmessage", { ret: -5, errmsg: "bad" });
    const failed = await s.send("hi").catch((error) => error);
    assert.ok(failed instanceof IlinkError);
    assert.equal(failed.kind, "error");
    assert.match(failed.message, /^iLink sendmessage error: ret=-5 errcode=- errmsg=bad$/);
    assert.equal(s.tried().length, 1);
  });
  await t.step("HTTP 400", async () => {
    s.ilink.failNext("sendmessage", { http: 400 });
    const failed = await s.send("hi").catch((error) => error);
    assert.ok(failed instanceof IlinkError);
    assert.equal(failed.kind, "http");
    assert.equal(s.tried().length, 2);
  });
  assert.equal(s.ilink.sent.length, 0);
});

Deno.test("a rate limit at the threshold opens the circuit: the send throws with the cooldown, the next fails fast", async () => {
  await using s = await setup({ threshold: 1 });
  s.ilink.failNext("sendmessage", Faults.rateLimit);
  const failed = await s.send("hi").catch((error) => error);
  assert.ok(failed instanceof IlinkError, String(failed));
  assert.equal(failed.kind, "rate_limited");
  assert.ok((failed.retryAfterMs ?? 0) > 0, `retryAfterMs ${failed.retryAfterMs}`);
  assert.ok((failed.retryAfterMs ?? 0) <= 30_000);
  assert.match(failed.message, /cooldown active for \d+\.\ds/);
  assert.match(failed.message, /^iLink sendmessage rate limited; cooldown active for 30\.0s$/);
  assert.equal(s.tried().length, 1);
  const started = performance.now();
  const fast = await s.send("next").catch((error) => error);
  assert.ok(performance.now() - started < 50, "no wait");
  assert.ok(fast instanceof IlinkError);
  assert.match(fast.message, /cooldown active for \d+\.\ds/);
  assert.ok((fast.retryAfterMs ?? 0) > 0);
  assert.equal(s.tried().length, 1, "no request while the circuit is open");
  assert.equal(s.ilink.sent.length, 0);
});

Deno.test("a rate limit on the last try still opens the circuit (no retries configured)", async () => {
  await using s = await setup({ threshold: 1, retries: 0 });
  s.ilink.failNext("sendmessage", Faults.rateLimit);
  const failed = await s.send("hi").catch((error) => error);
  assert.ok(failed instanceof IlinkError);
  assert.equal(failed.kind, "rate_limited");
  assert.ok(
    s.breaker.remainingMs() > 0,
    "3.7: every −2 rate limit is recorded; at 1 the circuit opens",
  );
  const fast = await s.send("next").catch((error) => error);
  assert.match(String(fast?.message), /cooldown active for \d+\.\ds/);
  assert.equal(s.tried().length, 1, "no request while the circuit is open");
});

Deno.test("a rate limit below the threshold waits 3 × the retry delay and sends", async () => {
  await using s = await setup({ threshold: 2 });
  s.ilink.failNext("sendmessage", Faults.rateLimit);
  assert.deepEqual(await s.send("hi"), { sent: true });
  const requests = s.ilink.requestsTo("sendmessage");
  assert.equal(requests.length, 2);
  const wait = requests[1]!.at - requests[0]!.at;
  assert.ok(wait >= 3 * RETRY_DELAY_MS - 5, `waited ${wait} ms`);
  assert.equal(s.ilink.sent.length, 1);
  // The success forgot that rate limit: one more does not reach the threshold of 2.
  s.ilink.failNext("sendmessage", Faults.rateLimit);
  assert.deepEqual(await s.send("again"), { sent: true });
  assert.equal(s.breaker.remainingMs(), 0);
  assert.equal(s.ilink.sent.length, 2);
});

Deno.test("two sends at once never overlap, and go out in order", async () => {
  await using s = await setup();
  s.ilink.failNext("sendmessage", { delayMs: 200 });
  const [a, b] = await Promise.all([s.send("first"), s.send("second")]);
  assert.deepEqual([a, b], [{ sent: true }, { sent: true }]);
  assert.equal(s.ilink.peakInFlight("sendmessage"), 1);
  assert.deepEqual(s.ilink.sent.map((m) => m.text), ["first", "second"]);
});

Deno.test("a send that failed does not hold up the one queued behind it", async () => {
  await using s = await setup({ retries: 0 });
  s.ilink.failNext("sendmessage", { ret: -5 });
  const [a, b] = await Promise.allSettled([s.send("first"), s.send("second")]);
  assert.equal(a.status, "rejected");
  assert.deepEqual(b, { status: "fulfilled", value: { sent: true } });
  assert.deepEqual(s.ilink.sent.map((m) => m.text), ["second"]);
});
