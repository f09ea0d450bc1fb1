import assert from "node:assert/strict";
import { Faults } from "../fakes/ilink_server.ts";
import { waitFor } from "../gateway/_gateway.ts";
import { startWeixinGateway, waitForSent, weixinHealth } from "./_weixin.ts";

Deno.test("-14 on getupdates pauses polling for the configured time, status says why, then polling resumes", async () => {
  await using setup = await startWeixinGateway({
    env: { WEIXIN_SESSION_EXPIRED_PAUSE_SECONDS: "3" },
  });
  const { ilink } = setup;
  const polls = () => ilink.requestsTo("getupdates");
  const refused = polls().length; // the poll after the one iLink holds now
  ilink.failNext("getupdates", Faults.sessionExpired);
  await waitFor("the refused poll", () => polls().length > refused);
  ilink.inbound({ from: "carol@im.wechat", text: "are you there?" });
  await waitFor("the pause in status", async () => {
    const health = await weixinHealth(setup);
    return (health.last_error as { code?: string } | null)?.code === "session_expired";
  });
  const paused = await weixinHealth(setup);
  assert.equal(paused.state, "retrying");
  assert.ok((paused.details as { poll_paused_until?: string }).poll_paused_until);
  await waitForSent(ilink, "are you there?", 20_000);
  const gap = polls()[refused + 1]!.at - polls()[refused]!.at;
  assert.ok(gap >= 2_900, `no poll during the 3 s pause (the next came after ${gap} ms)`);
  assert.match(setup.gateway.stderr(), /Session expired; pausing for 3 s/);
  assert.equal((await weixinHealth(setup)).state, "receiving", "healthy again after the pause");
});

Deno.test('a send answered "-2 unknown error" is sent once more without the context token', async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  ilink.failNext("sendmessage", Faults.unknownError);
  const { contextToken } = ilink.inbound({ from: "dave@im.wechat", text: "stale token?" });
  const reply = await waitForSent(ilink, "stale token?");
  const tries = ilink.requestsTo("sendmessage");
  assert.equal(tries.length, 2);
  const tokenOf = (i: number) =>
    (tries[i]!.body as { msg: { context_token?: string } }).msg.context_token;
  assert.equal(tokenOf(0), contextToken);
  assert.equal(tokenOf(1), undefined, "the second try drops the stale token");
  assert.equal(reply.contextToken, undefined);
});

Deno.test("20 replies under a rate-limit storm: the circuit opens, sends fail fast with a cooldown, never overlap, and all are delivered once it closes", async () => {
  await using setup = await startWeixinGateway({
    env: {
      WEIXIN_RATE_LIMIT_CIRCUIT_OPEN_SECONDS: "1.5",
      WEIXIN_SEND_CHUNK_RETRY_DELAY_SECONDS: "0.2",
    },
  });
  const { ilink } = setup;
  ilink.failAlways("sendmessage", Faults.rateLimit);
  const texts = Array.from({ length: 20 }, (_, i) => `question ${i + 1}`);
  texts.forEach((text, i) => ilink.inbound({ from: `user-${i + 1}@im.wechat`, text }));
  await waitFor("the first refused send", () => ilink.requestsTo("sendmessage").length >= 1);
  await new Promise((resolve) => setTimeout(resolve, 3_000)); // the storm lasts 3 s
  const duringStorm = ilink.requestsTo("sendmessage").length;
  ilink.failAlways("sendmessage", null);
  await waitFor("all 20 replies", () => ilink.sent.length === 20, 30_000);
  assert.deepEqual(ilink.sent.map((s) => s.text).sort(), [...texts].sort());
  assert.ok(
    duringStorm <= 6,
    `an open circuit fails sends without asking iLink: ${duringStorm} sendmessage calls in 3 s for 20 replies`,
  );
  assert.equal(ilink.peakInFlight("sendmessage"), 1, "sends never overlap");
  assert.match(setup.gateway.stderr(), /cooldown active for \d+\.\ds/);
});

Deno.test("a token iLink refuses at start is not a crash: status says retrying and names `hermes weixin login`", async () => {
  await using setup = await startWeixinGateway({ env: { WEIXIN_TOKEN: "revoked-token" } });
  await waitFor("the refusal in status", async () => {
    const health = await weixinHealth(setup);
    return /hermes weixin login/.test(String((health.last_error as { message?: string })?.message));
  });
  const health = await weixinHealth(setup);
  assert.equal(health.connected, false);
  assert.equal(health.state, "retrying");
  const state = await Promise.race([setup.gateway.exited.then(() => "exited"), "running"]);
  assert.equal(state, "running");
});

Deno.test("polls iLink never answers leave the link degraded, then retrying, never healthy", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  ilink.failAlways("getupdates", { delayMs: 60_000 });
  await waitFor("an unanswered poll in status", async () => {
    const health = await weixinHealth(setup);
    return (health.last_error as { code?: string } | null)?.code === "poll_unanswered";
  }, 20_000);
  const health = await weixinHealth(setup);
  assert.ok(["degraded", "retrying"].includes(String(health.state)), String(health.state));
  assert.match(
    String((health.last_error as { message: string }).message),
    /did not answer getupdates/,
  );
  ilink.failAlways("getupdates", null);
  ilink.inbound({ from: "sam@im.wechat", text: "back?" });
  await waitForSent(ilink, "back?", 20_000);
  assert.equal((await weixinHealth(setup)).state, "receiving");
});
