/**
 * Pool mode: gateways with separate homes and separate credential lock
 * folders (standing for separate hosts) share one PostgreSQL database and
 * one WeCom bot (the simulator); the bot's lease decides which one serves it.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { runHermes, tempDir } from "../_helpers.ts";
import { startGateway, waitFor } from "../gateway/_gateway.ts";
import { freshDatabase } from "../_postgres.ts";
import { WecomServer } from "../fakes/wecom_server.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { BOT, repliesOf, replyText, waitForReply, wecomEnv } from "./_wecom.ts";
import { statusOf, waitStandby } from "./_pool.ts";

const TTL_S = 3;

/** The pool's owner subscribed, then the second gateway started and on standby. */
async function ownerAndStandby(
  p: { a: string; b: string; env: Record<string, string>; wecom: WecomServer },
) {
  const owner = await startGateway(p.a, p.env);
  const first = await p.wecom.waitForSubscribe(BOT, 1, 20_000);
  const standby = await startGateway(p.b, p.env);
  const seen = await waitStandby(p.b, p.env);
  return { owner, first, standby, seen };
}

/** `hermes gateway status --all --json` as seen from `home`. */
async function poolOf(home: string, env: Record<string, string>) {
  const result = await runHermes(["gateway", "status", "--all", "--json"], {
    home,
    env: { ...env, HERMES_GATEWAY_LOCK_DIR: `${home}/locks` },
  });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as {
    members: {
      owner: string;
      pid: number;
      stopped_at: string | null;
      bots: { platform: string; epoch: number }[];
    }[];
    last_takeover: { platform: string; from: string; owner: string; planned: boolean } | null;
  };
}

/** Two homes, one database, one bot: what each gateway of the pool is started with. */
async function pool(extra: Record<string, string> = {}) {
  const url = await freshDatabase();
  const wecom = await WecomServer.start();
  const env = wecomEnv(wecom.url, {
    HERMES_STORAGE_BACKEND: "postgres",
    HERMES_DATABASE_URL: url,
    HERMES_LEASE_TTL_SECONDS: String(TTL_S),
    ...extra,
  });
  const a = tempDir();
  const b = tempDir();
  return {
    wecom,
    env,
    a: a.path,
    b: b.path,
    async [Symbol.asyncDispose]() {
      await wecom.close();
      await a[Symbol.asyncDispose]();
      await b[Symbol.asyncDispose]();
    },
  };
}

Deno.test("two gateways, one bot: one subscribes, the other is standby naming it; kill -9 of the owner mid-turn hands the bot over and the message is answered once", async () => {
  await using openai = startFakeOpenAI({ tokens: () => ["slow ", "answer"], tokenDelayMs: 700 });
  await using p = await pool({
    HERMES_MODEL: "fake",
    OPENAI_BASE_URL: openai.baseUrl,
    OPENAI_API_KEY: "x",
  });
  const { wecom, env } = p;
  const { owner, standby, seen } = await ownerAndStandby(p);
  await using _standby = standby;
  const holder = seen.platforms.wecom!.details.lease_holder as Record<string, unknown>;
  assert.equal(holder.pid, owner.pid, "standby names the owner's PID");
  assert.match(String(holder.owner), /^gw-[0-9a-f]{8}$/);
  assert.ok(Date.parse(String(holder.lease_expires_at)) > 0);
  const owned = await statusOf(p.a, env);
  assert.notEqual(owned.platforms.wecom?.state, "standby");
  assert.equal(typeof owned.platforms.wecom?.details.lease_epoch, "number");
  const human = await runHermes(["gateway", "status"], {
    home: p.b,
    env: { ...env, HERMES_GATEWAY_LOCK_DIR: `${p.b}/locks` },
  });
  assert.match(human.stdout, /^ {2}wecom: standby/m);
  assert.match(
    human.stdout,
    new RegExp(`^ {4}standby: held by gw-[0-9a-f]{8} on .+ \\(PID ${owner.pid}\\)$`, "m"),
  );
  await new Promise((resolve) => setTimeout(resolve, TTL_S * 1000));
  assert.equal(wecom.subscribes(BOT), 1, "the standby gateway never subscribed while renewed");

  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "hello pool" });
  await waitFor("the owner to ask the model", () => openai.requests.length === 1);
  owner.child.kill("SIGKILL");
  const killedAt = performance.now();
  await owner.exited;
  await owner[Symbol.asyncDispose]();
  await wecom.waitForSubscribe(BOT, 2, (TTL_S + 10) * 1000);
  const tookOverMs = performance.now() - killedAt;
  assert.ok(tookOverMs < (TTL_S + 10) * 1000);
  await waitForReply(wecom, "slow answer", 20_000);
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "after" });
  await waitFor("the later message answered", () => openai.requests.length === 3);
  await waitFor("its reply", () => repliesOf(wecom).length === 2);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.deepEqual(repliesOf(wecom).map(replyText), ["slow answer", "slow answer"]);
  const after = await statusOf(p.b, env);
  assert.notEqual(after.platforms.wecom?.state, "standby");
  const pooled = await poolOf(p.b, env);
  assert.equal(pooled.last_takeover?.planned, false, "taken after the owner died");
  assert.equal(pooled.last_takeover?.platform, "wecom");
  assert.equal(pooled.last_takeover?.from, holder.owner);
});

Deno.test("a reply complete before the owner's host was lost is sent by the new owner once the lease ran out, and the model is not asked again", async () => {
  await using openai = startFakeOpenAI();
  await using p = await pool({
    HERMES_MODEL: "fake",
    OPENAI_BASE_URL: openai.baseUrl,
    OPENAI_API_KEY: "x",
  });
  const { wecom } = p;
  const { owner, standby } = await ownerAndStandby(p);
  await using _standby = standby;
  // The owner's reply is refused with "rate limited, try later"; it dies before the retry.
  wecom.failNext("aibot_respond_msg", 45009);
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "answered once" });
  await waitFor("the refused reply", () => wecom.framesOf("aibot_respond_msg").length === 1);
  // Its host is lost: the process stays (stopped), renews nothing, and cannot be seen dead.
  owner.child.kill("SIGSTOP");
  const taken = await wecom.waitForSubscribe(BOT, 2, (TTL_S + 10) * 1000);
  owner.child.kill("SIGKILL");
  await owner.exited;
  await owner[Symbol.asyncDispose]();
  const reply = await wecom.waitForFrame(
    (r) => r.frame?.cmd === "aibot_respond_msg" && r.conn === taken.conn,
    20_000,
  );
  assert.equal(replyText(reply), "answered once", "the new owner sent the stored reply");
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(openai.requests.length, 1, "the model was asked once");
  assert.equal(wecom.framesOf("aibot_respond_msg").length, 2, "refused once, sent once");
});

Deno.test("hermes gateway stop on the owner hands the bot to the standby gateway within 5 s", async () => {
  await using p = await pool();
  const { wecom, env } = p;
  const setup = await ownerAndStandby(p);
  await using owner = setup.owner;
  await using standby = setup.standby;
  const { first } = setup;
  const started = performance.now();
  const stop = await runHermes(["gateway", "stop"], {
    home: p.a,
    env: { ...env, HERMES_GATEWAY_LOCK_DIR: `${p.a}/locks` },
  });
  assert.equal(stop.code, 0, stop.stderr);
  const second = await wecom.waitForSubscribe(BOT, 2, 5_000);
  assert.equal(
    second.deviceId,
    first.deviceId,
    "the device_id is the pool's, kept in the database",
  );
  const handoffMs = performance.now() - started;
  assert.ok(handoffMs < 5_000, `handed over after ${handoffMs} ms`);
  assert.equal(await owner.exited, 0);
  await assert.rejects(
    Deno.stat(`${p.a}/platforms/wecom/device_ids.json`),
    Deno.errors.NotFound,
    "no device_id file in the home",
  );
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "who answers" });
  await waitForReply(wecom, "who answers");
  const serving = await statusOf(p.b, env);
  assert.ok(
    serving.platforms.wecom?.state === "subscribed" ||
      serving.platforms.wecom?.state === "receiving",
  );
  assert.equal(
    serving.platforms.wecom?.details.lease_epoch,
    2,
    "a new epoch: the first was released",
  );
  assert.equal((serving as unknown as { pid: number }).pid, standby.pid);
  const pooled = await poolOf(p.a, env);
  assert.deepEqual(
    pooled.members.map((m) => [m.pid, m.stopped_at !== null, m.bots.map((b) => b.platform)]),
    [[standby.pid, false, ["wecom"]], [owner.pid, true, []]],
    "the newest start first: the new owner with the bot, the old one stopped",
  );
  assert.equal(pooled.last_takeover?.planned, true, "handed over");
  const human = await runHermes(["gateway", "status", "--all"], {
    home: p.a,
    env: { ...env, HERMES_GATEWAY_LOCK_DIR: `${p.a}/locks` },
  });
  assert.match(human.stdout, /^Pool: 1 gateway\(s\) running, 2 seen in the last hour$/m);
  assert.match(human.stdout, /^ {4}wecom: lease epoch 2, held \d+ s, expires in \d+ s$/m);
  assert.match(human.stdout, /last takeover: wecom by gw-\w+ from gw-\w+ at .+ \(handed over\)/);
});

Deno.test("a pairing code one gateway of the pool sent is approved from another host's CLI, and the user is let in on the next message", async () => {
  await using p = await pool({ WECOM_DM_POLICY: "pairing" });
  const { wecom, env } = p;
  await using _owner = await startGateway(p.a, env);
  await wecom.waitForSubscribe(BOT, 1, 20_000);
  wecom.callback(BOT, { chatType: "dm", userId: "wangwu", text: "let me in" });
  await waitFor("the pairing code", () => repliesOf(wecom).length === 1);
  const code = /hermes pair approve ([A-Z2-9]{8})/.exec(replyText(repliesOf(wecom)[0]!) ?? "")?.[1];
  assert.ok(code, `a code in ${replyText(repliesOf(wecom)[0]!)}`);
  // Another host: its own home, nothing of the gateway's files, the same database.
  const approve = await runHermes(["pair", "approve", code], {
    home: p.b,
    env: { ...env, HERMES_GATEWAY_LOCK_DIR: `${p.b}/locks` },
  });
  assert.equal(approve.code, 0, approve.stderr);
  assert.match(approve.stdout, /^Approved: wangwu \(wangwu\) on wecom can now use the bot\.$/m);
  assert.match(approve.stdout, /the gateway of the pool that serves wecom lets them in/);
  await assert.rejects(
    Deno.stat(`${p.a}/platforms/pairing/wecom-approved.json`),
    Deno.errors.NotFound,
  );
  wecom.callback(BOT, { chatType: "dm", userId: "wangwu", text: "now answer me" });
  await waitForReply(wecom, "now answer me");
  const listed = await runHermes(["pair", "list", "--json"], {
    home: p.a,
    env: { ...env, HERMES_GATEWAY_LOCK_DIR: `${p.a}/locks` },
  });
  assert.deepEqual(
    (JSON.parse(listed.stdout).approved as { user_id: string }[]).map((u) => u.user_id),
    ["wangwu"],
  );
});

Deno.test("gateway.max_bots: a gateway serves that many bots and leaves the rest on standby for the pool", async () => {
  await using p = await pool({ HERMES_MAX_BOTS: "1", LOCAL_ENABLED: "true" });
  await using _gateway = await startGateway(p.a, p.env);
  const { platforms } = await statusOf(p.a, p.env);
  const states = Object.entries(platforms).map(([name, link]) => [name, link.state]);
  const waiting = states.filter(([, state]) => state === "standby");
  assert.equal(waiting.length, 1, `one of wecom and local on standby: ${JSON.stringify(states)}`);
  assert.match(
    String(platforms[waiting[0]![0]!]!.details.standby),
    /gateway\.max_bots \(1\)/,
  );
});

Deno.test("status --all on a home whose state is SQLite is a usage error naming the pool setting", async () => {
  await using home = tempDir();
  const result = await runHermes(["gateway", "status", "--all"], { home: home.path });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--all lists the gateways of a pool/);
  assert.match(result.stderr, /storage\.backend: postgres/);
});

Deno.test("hermes pair list on PostgreSQL only reads: an empty database is left as it was, with the fix named", async () => {
  await using home = tempDir();
  const url = await freshDatabase();
  const env = { HERMES_STORAGE_BACKEND: "postgres", HERMES_DATABASE_URL: url };
  const listed = await runHermes(["pair", "list"], { home: home.path, env });
  assert.notEqual(listed.code, 0);
  assert.match(listed.stderr, /holds no hermes state yet; start the gateway on it once/);
  const db = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await db`SELECT to_regclass('schema_migrations') IS NULL AS untouched`;
    assert.equal(row?.untouched, true, "no migration ran");
  } finally {
    await db.end();
  }
});

Deno.test("one gateway on PostgreSQL, killed mid-turn and started again in its home: it takes its dead lease at once and answers the message once", async () => {
  await using openai = startFakeOpenAI({ tokens: () => ["late ", "answer"], tokenDelayMs: 700 });
  // A lease far longer than the test: waiting it out would time the test out.
  const ttlS = 300;
  await using p = await pool({
    HERMES_MODEL: "fake",
    OPENAI_BASE_URL: openai.baseUrl,
    OPENAI_API_KEY: "x",
    HERMES_LEASE_TTL_SECONDS: String(ttlS),
  });
  const { wecom, env } = p;
  const first = await startGateway(p.a, env);
  await wecom.waitForSubscribe(BOT, 1, 20_000);
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "before the crash" });
  await waitFor("the model asked", () => openai.requests.length === 1);
  first.child.kill("SIGKILL");
  await first.exited;
  await first[Symbol.asyncDispose]();
  await using _again = await startGateway(p.a, env);
  // Its old lease has 300 s to run, but the process that held it is gone from this machine.
  await wecom.waitForSubscribe(BOT, 2, 30_000);
  await waitForReply(wecom, "late answer", 20_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.deepEqual(repliesOf(wecom).map(replyText), ["late answer"]);
  const pooled = await poolOf(p.a, env);
  assert.equal(pooled.last_takeover?.planned, false, "taken from a dead holder");
});
