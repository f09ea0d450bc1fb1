import assert from "node:assert/strict";
import {
  BOT,
  repliesOf,
  replyText,
  startWecomGateway,
  waitForReply,
  wecomEnv,
  wecomHealth,
} from "./_wecom.ts";
import { WecomServer } from "../fakes/wecom_server.ts";
import { runHermes, tempDir } from "../_helpers.ts";
import { startGateway, startHermes, waitFor } from "../gateway/_gateway.ts";

Deno.test("DM and group messages are answered in markdown on their own req_id, never by stream or proactive group send", async () => {
  await using setup = await startWecomGateway();
  const { wecom } = setup;
  const dm = wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "hello from a DM" });
  const group = wecom.callback(BOT, {
    chatType: "group",
    chatId: "wrkG1",
    userId: "lisi",
    text: "@HermesBot hello from a group",
  });
  const dmReply = await waitForReply(wecom, "hello from a DM");
  const groupReply = await waitForReply(wecom, "hello from a group");
  assert.equal(dmReply.frame?.cmd, "aibot_respond_msg");
  assert.equal(dmReply.frame?.headers?.req_id, dm.reqId);
  assert.deepEqual(dmReply.frame?.body, {
    msgtype: "markdown",
    markdown: { content: "hello from a DM" },
  });
  assert.equal(groupReply.frame?.cmd, "aibot_respond_msg");
  assert.equal(groupReply.frame?.headers?.req_id, group.reqId);
  const replies = repliesOf(wecom);
  assert.equal(replies.length, 2, `exactly one reply each: ${replies.map(replyText)}`);
  assert.ok(replies.every((r) => r.frame?.body?.msgtype === "markdown"));
  assert.equal(wecom.framesOf("aibot_send_msg").length, 0);
});

Deno.test("zombie test: 20 half-open drops while group messages keep arriving; every message answered exactly once, always under the same device_id", async () => {
  await using setup = await startWecomGateway({
    env: { WECOM_HEARTBEAT_INTERVAL_SECONDS: "0.3", WECOM_HEARTBEAT_TIMEOUT_SECONDS: "0.2" },
  });
  const { wecom } = setup;
  const sent: string[] = [];
  for (let i = 1; i <= 20; i++) {
    wecom.drop(BOT, "half-open");
    const text = `group message ${i}`;
    wecom.callback(BOT, { chatType: "group", chatId: "wrkG1", userId: `user-${i % 3}`, text });
    sent.push(text);
    await wecom.waitForSubscribe(BOT, i + 1, 15_000);
  }
  for (const text of sent) await waitForReply(wecom, text, 20_000);
  const answered = repliesOf(wecom).filter((r) => !r.lost).map(replyText);
  for (const text of sent) {
    assert.equal(answered.filter((t) => t === text).length, 1, `"${text}" answered once`);
  }
  const devices = new Set(wecom.framesOf("aibot_subscribe").map((r) => r.frame?.body?.device_id));
  assert.equal(devices.size, 1, "every subscribe carried the same device_id");
  assert.equal(wecom.framesOf("aibot_send_msg").length, 0, "a group is never sent aibot_send_msg");
});

Deno.test("the device_id survives a restart and a takeover by run --replace", async () => {
  await using setup = await startWecomGateway();
  const { wecom, home, env } = setup;
  const first = (await wecom.waitForSubscribe(BOT, 1)).deviceId;
  const stat = await Deno.stat(`${home}/platforms/wecom/device_ids.json`);
  assert.equal(stat.mode! & 0o777, 0o600);
  const old = setup.gateway;
  setup.gateway = startHermes(home, ["gateway", "run", "--replace"], env);
  await old.exited;
  const second = await wecom.waitForSubscribe(BOT, 2, 20_000);
  assert.equal(second.deviceId, first);
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "after the handoff" });
  await waitForReply(wecom, "after the handoff");
  const replaced = setup.gateway;
  setup.gateway = startHermes(home, ["gateway", "restart"], env);
  await replaced.exited;
  const third = await wecom.waitForSubscribe(BOT, 3, 20_000);
  assert.equal(third.deviceId, first);
  assert.equal(wecom.framesOf("aibot_event_callback").length, 0);
});

Deno.test("a half-open link is given up after two unanswered pings, and the next message is answered", async () => {
  await using setup = await startWecomGateway();
  const { wecom } = setup;
  wecom.drop(BOT, "half-open");
  const second = await wecom.waitForSubscribe(BOT, 2, 15_000);
  const lostPings = wecom.frames.filter((r) => r.lost && r.frame?.cmd === "ping");
  assert.equal(lostPings.length, 2, "the link is given up at the second unanswered ping");
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "are you there?" });
  const reply = await waitForReply(wecom, "are you there?");
  assert.equal(reply.conn, second.conn, "answered on the new link");
  const health = await wecomHealth(setup);
  assert.equal(health.reconnects, 1);
  assert.match(JSON.stringify(health.details), /pings in a row were not answered/);
});

Deno.test("846609 on a reply: the link subscribes again on the same socket and the reply is delivered, counted in health", async () => {
  await using setup = await startWecomGateway();
  const { wecom } = setup;
  wecom.failNext("aibot_respond_msg", 846609, 1, "aibot websocket not subscribed");
  wecom.callback(BOT, { chatType: "group", chatId: "wrkG1", userId: "lisi", text: "hello again" });
  const refused = await waitForReply(wecom, "hello again");
  const reply = await wecom.waitForFrame(
    (r) => r.frame?.cmd === "aibot_respond_msg" && replyText(r) === "hello again",
    15_000,
    wecom.frames.indexOf(refused) + 1,
  );
  const subscribes = wecom.framesOf("aibot_subscribe");
  assert.equal(subscribes.length, 2, "subscribed once more");
  assert.equal(subscribes[1]!.conn, reply.conn, "on the live socket, no reconnect");
  assert.equal(repliesOf(wecom).filter((r) => replyText(r) === "hello again").length, 2);
  const health = await wecomHealth(setup);
  assert.equal(
    (health.details as Record<string, Record<string, number>>).error_counts?.["846609"],
    1,
  );
  assert.equal(health.reconnects, 0);
});

Deno.test("a dropped subscription (pings acked, nothing delivered) is healed by the inbound-silence watchdog", async () => {
  await using setup = await startWecomGateway({ env: { WECOM_IDLE_RESUBSCRIBE_SECONDS: "1" } });
  const { wecom } = setup;
  wecom.dropSubscription(BOT);
  const held = wecom.callback(BOT, {
    chatType: "dm",
    userId: "wangwu",
    text: "heard after a resubscribe",
  });
  assert.equal(held.queued, true, "the server holds it for an unsubscribed link");
  const reply = await waitForReply(wecom, "heard after a resubscribe", 15_000);
  const subscribes = wecom.framesOf("aibot_subscribe");
  assert.equal(subscribes.length, 2);
  assert.equal(subscribes[1]!.conn, reply.conn, "subscribed again on the same socket");
  const health = await wecomHealth(setup);
  assert.ok(
    (health.details as { link_counts: { idle_resubscribes: number } }).link_counts
      .idle_resubscribes >= 1,
  );
});

Deno.test("disconnected_event: superseded, no kick-fight for the configured wait, and status names the cause", async () => {
  await using setup = await startWecomGateway({ env: { WECOM_SUPERSEDED_RETRY_SECONDS: "600" } });
  const { wecom } = setup;
  const other = await wecom.takeover(BOT);
  try {
    let health: Record<string, unknown> = {};
    for (let i = 0; i < 100 && health.state !== "superseded"; i++) {
      health = await wecomHealth(setup);
      if (health.state !== "superseded") await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(health.state, "superseded");
    assert.equal(health.connected, false);
    const error = health.last_error as { code: string; message: string };
    assert.equal(error.code, "disconnected_event");
    assert.match(error.message, /another client subscribed with this bot id at \d{4}-/);
    await new Promise((r) => setTimeout(r, 3000));
    const ours = wecom.framesOf("aibot_subscribe").filter((r) => !r.internal);
    assert.equal(ours.length, 1, "no reconnect while another client holds the bot");
    const human = await runHermes(["gateway", "status"], {
      home: setup.home,
      env: { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${setup.home}/locks` },
    });
    assert.match(human.stdout, /superseded/);
    assert.match(human.stdout, /another client subscribed/);
  } finally {
    await other.close();
  }
});

Deno.test("hermes send: a group whose req_id expired keeps the message for its next message; never a proactive send into a group", async () => {
  await using setup = await startWecomGateway({ server: { replyWindowMs: 1500 } });
  const { wecom, home } = setup;
  const env = { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${home}/locks` };
  wecom.callback(BOT, { chatType: "group", chatId: "wrkG9", userId: "lisi", text: "@Bot first" });
  await waitForReply(wecom, "first");
  await new Promise((r) => setTimeout(r, 1600)); // the group's req_id is now too old
  const toGroup = await runHermes(["send", "wecom:wrkG9", "hi"], { home, env });
  assert.equal(toGroup.code, 0, toGroup.stderr);
  assert.match(toGroup.stdout, /^queued: waiting for the chat's next message/);
  const next = wecom.callback(BOT, {
    chatType: "group",
    chatId: "wrkG9",
    userId: "lisi",
    text: "@Bot morning",
  });
  const morning = await waitForReply(wecom, "morning");
  const hi = wecom.frames.filter((r) => replyText(r) === "hi");
  assert.equal(hi.at(-1)?.frame?.headers?.req_id, next.reqId, "it rode the group's next req_id");
  assert.ok(wecom.frames.indexOf(hi.at(-1)!) < wecom.frames.indexOf(morning), "the kept one first");
  assert.equal(
    wecom.framesOf("aibot_send_msg").length,
    0,
    "a known group is never sent to proactively",
  );
  const parts = await runHermes(["send", "wecom:wrkG9", "status?", "--json"], { home, env });
  assert.equal(JSON.parse(parts.stdout)[0].state, "sent", "a fresh req_id answers at once");
});

Deno.test("hermes send: a chat never heard from is tried as a DM; a group answers 600039 and the message waits for it", async () => {
  await using setup = await startWecomGateway({ server: { groups: ["wrkNew"] } });
  const { wecom, home } = setup;
  const env = { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${home}/locks` };
  const toDm = await runHermes(["send", "wecom:zhangsan", "backup finished"], { home, env });
  assert.equal(toDm.code, 0, toDm.stderr);
  assert.match(toDm.stdout, /^sent/);
  const dm = await waitForReply(wecom, "backup finished");
  assert.equal(dm.frame?.cmd, "aibot_send_msg");
  assert.deepEqual(dm.frame?.body, {
    chatid: "zhangsan",
    msgtype: "markdown",
    markdown: { content: "backup finished" },
  });
  const toGroup = await runHermes(["send", "wecom:wrkNew", "hello group"], { home, env });
  assert.match(toGroup.stdout, /^queued: waiting for the chat's next message/);
  const next = wecom.callback(BOT, {
    chatType: "group",
    chatId: "wrkNew",
    userId: "lisi",
    text: "@Bot yo",
  });
  await waitForReply(wecom, "yo");
  const delivered = wecom.frames.filter((r) => replyText(r) === "hello group");
  assert.equal(delivered.at(-1)?.frame?.cmd, "aibot_respond_msg");
  assert.equal(delivered.at(-1)?.frame?.headers?.req_id, next.reqId);
});

Deno.test("a second gateway on this machine with the same bot waits for the credential lock instead of kicking the first off", async () => {
  await using setup = await startWecomGateway();
  const { wecom } = setup;
  await using other = tempDir();
  const env = { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${setup.home}/locks` };
  await using second = await startGateway(other.path, env);
  await waitFor(
    "the second gateway to try the bot",
    () => /credential is in use/.test(second.stderr()),
  );
  assert.equal(wecom.subscribes(BOT), 1, "only the first gateway subscribed");
  assert.equal(wecom.framesOf("aibot_event_callback").length, 0, "no one was kicked");
  const status = await runHermes(["gateway", "status", "--json"], { home: other.path, env });
  const health = JSON.parse(status.stdout).platforms.wecom;
  assert.equal(health.connected, false);
  assert.match(health.last_error.message, /in use by the gateway PID \d+/);
  await runHermes(["gateway", "stop"], { home: setup.home, env });
  await wecom.waitForSubscribe(BOT, 2, 30_000);
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "who answers now?" });
  await waitForReply(wecom, "who answers now?");
});

Deno.test("gateway status names the link's device_id, traffic per route, reconnects and error counts", async () => {
  await using setup = await startWecomGateway();
  const { wecom, home } = setup;
  const { deviceId } = await wecom.waitForSubscribe(BOT, 1);
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "one" });
  wecom.callback(BOT, { chatType: "group", chatId: "wrkG1", userId: "lisi", text: "@Bot two" });
  await waitForReply(wecom, "one");
  await waitForReply(wecom, "two");
  wecom.drop(BOT, "reset");
  await wecom.waitForSubscribe(BOT, 2, 15_000);
  const env = { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${home}/locks` };
  const human = await runHermes(["gateway", "status"], { home, env });
  assert.match(human.stdout, /wecom: (subscribed|receiving)/);
  assert.match(human.stdout, new RegExp(`device id: ${deviceId}`));
  assert.match(
    human.stdout,
    /last inbound: dm \d{4}-.*group \d{4}-|last inbound: group \d{4}-.*dm \d{4}-/,
  );
  assert.match(human.stdout, /reconnects: 1, longest dead window [\d.]+ s/);
  const json = JSON.parse((await runHermes(["gateway", "status", "--json"], { home, env })).stdout);
  const wecomJson = json.platforms.wecom;
  assert.equal(wecomJson.details.device_id, deviceId);
  assert.deepEqual(Object.keys(wecomJson.last_inbound_at).sort(), ["dm", "group"]);
  assert.equal(wecomJson.reconnects, 1);
  assert.ok(["subscribed", "receiving"].includes(wecomJson.state));
});

Deno.test("a wrong secret or a missing one ends the start with exit 78 and a line naming the fix", async () => {
  await using wecom = await WecomServer.start();
  await using home = tempDir();
  const wrong = startHermes(
    home.path,
    ["gateway", "run"],
    wecomEnv(wecom.url, { WECOM_SECRET: "not-it" }),
  );
  assert.equal(await wrong.exited, 78);
  assert.match(wrong.stderr(), /40013/);
  assert.match(wrong.stderr(), /check WECOM_BOT_ID and WECOM_SECRET/);
  const env = wecomEnv(wecom.url);
  delete env.WECOM_SECRET;
  const missing = startHermes(home.path, ["gateway", "run"], env);
  assert.equal(await missing.exited, 78);
  assert.match(missing.stderr(), /WECOM_SECRET is not set/);
  assert.equal(wecom.subscribes(BOT), 0);
});

Deno.test("the pieces of a long message the client split are answered as one message", async () => {
  await using setup = await startWecomGateway({
    env: { HERMES_WECOM_TEXT_BATCH_DELAY_SECONDS: "0.6" },
  });
  const { wecom } = setup;
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "first half," });
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "second half." });
  await waitForReply(wecom, "first half,\nsecond half.");
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(repliesOf(wecom).length, 1, "one answer for the two pieces");
});

Deno.test("two members' messages in one group are each answered on their own req_id; a blocked member's req_id is never used", async () => {
  await using setup = await startWecomGateway({
    env: { WECOM_GROUP_POLICY: "allowlist" },
    config:
      "wecom:\n  group_allow_from: [wrkG1]\n  groups:\n    wrkG1:\n      allow_from: [alice, bob]\n",
  });
  const { wecom } = setup;
  const alice = wecom.callback(BOT, {
    chatType: "group",
    chatId: "wrkG1",
    userId: "alice",
    text: "@Bot from alice",
  });
  const bob = wecom.callback(BOT, {
    chatType: "group",
    chatId: "wrkG1",
    userId: "bob",
    text: "@Bot from bob",
  });
  const eve = wecom.callback(BOT, {
    chatType: "group",
    chatId: "wrkG1",
    userId: "eve",
    text: "@Bot from eve",
  });
  const toAlice = await waitForReply(wecom, "from alice");
  const toBob = await waitForReply(wecom, "from bob");
  assert.equal(toAlice.frame?.headers?.req_id, alice.reqId);
  assert.equal(toBob.frame?.headers?.req_id, bob.reqId);
  await new Promise((r) => setTimeout(r, 500));
  const used = new Set(repliesOf(wecom).map((r) => r.frame?.headers?.req_id));
  assert.equal(used.has(eve.reqId), false, "eve is not allowed here: nothing rides her message");
  assert.equal(repliesOf(wecom).length, 2);
});
