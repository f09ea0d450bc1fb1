/**
 * Pool mode under a network partition: the owner of a bot loses its
 * database (a proxy the test controls stops carrying bytes), while the other
 * gateway of the pool still reaches it.
 */
import assert from "node:assert/strict";
import { runHermes, tempDir } from "../_helpers.ts";
import { startGateway, waitFor } from "../gateway/_gateway.ts";
import { freshDatabase } from "../_postgres.ts";
import { WecomServer } from "../fakes/wecom_server.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { startTcpProxy } from "../fakes/tcp_proxy.ts";
import { BOT, repliesOf, replyText, wecomEnv } from "./_wecom.ts";

const TTL_S = 3;

Deno.test("a partitioned owner stops serving the bot within one TTL; back, its stale writes are refused and nothing is answered twice", async () => {
  await using openai = startFakeOpenAI({ tokens: () => ["slow ", "answer"], tokenDelayMs: 1_500 });
  const url = new URL(await freshDatabase());
  await using proxy = startTcpProxy(Number(url.port));
  const behindProxy = new URL(url);
  behindProxy.port = String(proxy.port);
  await using wecom = await WecomServer.start();
  const base = wecomEnv(wecom.url, {
    HERMES_STORAGE_BACKEND: "postgres",
    HERMES_LEASE_TTL_SECONDS: String(TTL_S),
    HERMES_MODEL: "fake",
    OPENAI_BASE_URL: openai.baseUrl,
    OPENAI_API_KEY: "x",
  });
  await using a = tempDir();
  await using b = tempDir();
  await using owner = await startGateway(a.path, {
    ...base,
    HERMES_DATABASE_URL: behindProxy.href,
  });
  const first = await wecom.waitForSubscribe(BOT, 1, 20_000);
  const envB = { ...base, HERMES_DATABASE_URL: url.href };
  await using _standby = await startGateway(b.path, envB);
  await waitFor("the second gateway on standby", async () => {
    const status = await runHermes(["gateway", "status", "--json"], {
      home: b.path,
      env: { ...envB, HERMES_GATEWAY_LOCK_DIR: `${b.path}/locks` },
    });
    return JSON.parse(status.stdout).platforms?.wecom?.state === "standby";
  });

  // A turn is under way on the owner when its database goes out of reach.
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "during the partition" });
  await waitFor("the owner to ask the model", () => openai.requests.length === 1);
  proxy.partition();
  const cutAt = performance.now();
  await waitFor(
    "the owner to leave the bot",
    () => !wecom.sessions(BOT).some((s) => s.conn === first.conn && s.state === "open"),
    TTL_S * 1000 + 2_000,
  );
  const leftAfterMs = performance.now() - cutAt;
  assert.ok(leftAfterMs <= TTL_S * 1000, `the owner kept the bot ${leftAfterMs} ms`);
  const second = await wecom.waitForSubscribe(BOT, 2, (TTL_S + 10) * 1000);
  await wecom.waitForFrame(
    (r) => r.frame?.cmd === "aibot_respond_msg" && r.conn === second.conn,
    20_000,
  );

  // Back on the network, the old owner's writes for the bot carry a stale epoch.
  proxy.heal();
  await waitFor(
    "the old owner to find its turn's writes refused",
    () => /turn dropped: this gateway lost the bot's lease/.test(owner.stderr()),
    15_000,
  );
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "after the partition" });
  await waitFor("the later message answered", () => repliesOf(wecom).length === 2, 20_000);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.deepEqual(repliesOf(wecom).map(replyText), ["slow answer", "slow answer"]);
  assert.ok(
    repliesOf(wecom).every((r) => r.conn === second.conn),
    "every reply came from the new owner",
  );
  assert.equal(wecom.subscribes(BOT), 2, "the old owner did not take the bot back");
  const status = await runHermes(["gateway", "status", "--json"], {
    home: a.path,
    env: {
      ...base,
      HERMES_DATABASE_URL: behindProxy.href,
      HERMES_GATEWAY_LOCK_DIR: `${a.path}/locks`,
    },
  });
  await waitFor("the old owner on standby", async () => {
    const now = await runHermes(["gateway", "status", "--json"], {
      home: a.path,
      env: {
        ...base,
        HERMES_DATABASE_URL: behindProxy.href,
        HERMES_GATEWAY_LOCK_DIR: `${a.path}/locks`,
      },
    });
    return JSON.parse(now.stdout).platforms?.wecom?.state === "standby";
  }, 40_000);
  assert.equal(JSON.parse(status.stdout).state, "running", "the old owner kept running");
});
