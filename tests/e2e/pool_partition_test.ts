/**
 * Pool mode under a network partition: the owner of a bot loses the
 * database while the other gateway of the pool still reaches it. Once by a
 * proxy the test controls (only the database link of the owner is cut), and
 * where network namespaces can be made, with the two gateways in two
 * namespaces joined to this host by veth pairs (the owner's whole link is cut).
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { type BackgroundOptions, startGateway, waitFor } from "../gateway/_gateway.ts";
import { freshDatabase } from "../_postgres.ts";
import { WecomServer } from "../fakes/wecom_server.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { startTcpProxy, type TcpProxy } from "../fakes/tcp_proxy.ts";
import { BOT, repliesOf, replyText, wecomEnv } from "./_wecom.ts";
import { statusOf, waitStandby } from "./_pool.ts";
import { createNamespace, netnsAvailable, type TestNamespace } from "./_netns.ts";

const TTL_S = 3;

/** How each gateway reaches the servers, and how the owner is cut off. */
interface Network extends AsyncDisposable {
  /** The database URL, WeCom URL and model base URL each gateway is given, and how it is run. */
  readonly owner: { env: Record<string, string>; run: BackgroundOptions };
  readonly other: { env: Record<string, string>; run: BackgroundOptions };
  cut(): Promise<void>;
  heal(): Promise<void>;
  /** Whether the simulator can see the owner's link close (not through a dead veth). */
  readonly closeSeen: boolean;
}

interface Servers {
  readonly db: URL;
  readonly wecom: WecomServer;
  readonly modelUrl: URL;
}

/** The owner's database behind a proxy on this host; everything else direct. */
function proxiedDatabase(servers: Servers): Network {
  const proxy = startTcpProxy(Number(servers.db.port));
  const behind = new URL(servers.db);
  behind.port = String(proxy.port);
  const direct = {
    WECOM_WEBSOCKET_URL: servers.wecom.url,
    OPENAI_BASE_URL: servers.modelUrl.href,
  };
  return {
    owner: { env: { ...direct, HERMES_DATABASE_URL: behind.href }, run: {} },
    other: { env: { ...direct, HERMES_DATABASE_URL: servers.db.href }, run: {} },
    cut: () => Promise.resolve(proxy.partition()),
    heal: () => Promise.resolve(proxy.heal()),
    closeSeen: true,
    [Symbol.asyncDispose]: () => proxy[Symbol.asyncDispose](),
  };
}

/** Each gateway in a namespace of its own, reaching the servers through its veth pair. */
async function namespaces(servers: Servers): Promise<Network> {
  const made: (TestNamespace | TcpProxy)[] = [];
  const host = async () => {
    const ns = await createNamespace();
    made.push(ns);
    /** `url` as the namespace reaches it: a proxy on this host's end of the veth pair. */
    const via = (url: URL) => {
      const proxy = startTcpProxy(Number(url.port), { hostname: ns.hostIp });
      made.push(proxy);
      const seen = new URL(url);
      seen.hostname = ns.hostIp;
      seen.port = String(proxy.port);
      return seen.href;
    };
    return {
      ns,
      env: {
        HERMES_DATABASE_URL: via(servers.db),
        WECOM_WEBSOCKET_URL: via(new URL(servers.wecom.url)),
        OPENAI_BASE_URL: via(servers.modelUrl),
      },
      run: { netns: ns.name },
    };
  };
  const owner = await host();
  const other = await host();
  return {
    owner,
    other,
    cut: () => owner.ns.cut(),
    heal: () => owner.ns.heal(),
    closeSeen: false,
    async [Symbol.asyncDispose]() {
      for (const thing of made.reverse()) await thing[Symbol.asyncDispose]();
    },
  };
}

/**
 * The owner is cut off mid-turn: it must leave the bot (and end its turn)
 * within one TTL, the other gateway takes it and answers; back, the owner
 * answers nothing, goes on standby, and nothing is answered twice.
 */
async function partitionScenario(network: (servers: Servers) => Network | Promise<Network>) {
  await using openai = startFakeOpenAI({ tokens: () => ["slow ", "answer"], tokenDelayMs: 1_500 });
  await using wecom = await WecomServer.start();
  const servers = { db: new URL(await freshDatabase()), wecom, modelUrl: new URL(openai.baseUrl) };
  await using net = await network(servers);
  const base = wecomEnv(wecom.url, {
    HERMES_STORAGE_BACKEND: "postgres",
    HERMES_LEASE_TTL_SECONDS: String(TTL_S),
    HERMES_MODEL: "fake",
    OPENAI_API_KEY: "x",
  });
  const envA = { ...base, ...net.owner.env };
  const envB = { ...base, ...net.other.env };
  await using a = tempDir();
  await using b = tempDir();
  await using owner = await startGateway(a.path, envA, net.owner.run);
  const first = await wecom.waitForSubscribe(BOT, 1, 20_000);
  if (net.owner.run.netns) {
    const pids = await new Deno.Command("ip", { args: ["netns", "pids", net.owner.run.netns] })
      .output();
    assert.ok(
      new TextDecoder().decode(pids.stdout).split("\n").includes(String(owner.pid)),
      "the owner runs in its namespace",
    );
  }
  await using _standby = await startGateway(b.path, envB, net.other.run);
  await waitStandby(b.path, envB);

  // A turn is under way on the owner when it is cut off.
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "during the partition" });
  await waitFor("the owner to ask the model", () => openai.requests.length === 1);
  await net.cut();
  const cutAt = performance.now();
  await waitFor(
    "the owner to leave the bot",
    () =>
      net.closeSeen
        ? !wecom.sessions(BOT).some((s) => s.conn === first.conn && s.state === "open")
        : /platform disconnected; connecting again.*bot lease lost/.test(owner.stderr()),
    TTL_S * 1000 + 2_000,
  );
  const leftAfterMs = performance.now() - cutAt;
  assert.ok(leftAfterMs <= TTL_S * 1000, `the owner kept the bot ${leftAfterMs} ms`);
  const second = await wecom.waitForSubscribe(BOT, 2, (TTL_S + 10) * 1000);
  await wecom.waitForFrame(
    (r) => r.frame?.cmd === "aibot_respond_msg" && r.conn === second.conn,
    20_000,
  );

  // The old owner ended its turn when it lost the lease; back on the network, it answers nothing.
  assert.match(owner.stderr(), /bot let go: its turns ended unanswered.*"running":1/);
  await net.heal();
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "after the partition" });
  await waitFor("the later message answered", () => repliesOf(wecom).length === 2, 20_000);
  await waitStandby(a.path, envA, 40_000); // the bot's lease is the other gateway's now
  assert.deepEqual(repliesOf(wecom).map(replyText), ["slow answer", "slow answer"]);
  assert.ok(
    repliesOf(wecom).every((r) => r.conn === second.conn),
    "every reply came from the new owner",
  );
  assert.equal(wecom.subscribes(BOT), 2, "the old owner did not take the bot back");
  assert.equal((await statusOf(a.path, envA)).state, "running", "the old owner kept running");
}

Deno.test("an owner whose database link a proxy cuts leaves the bot and ends its turn within one TTL; back, it answers nothing and nothing is answered twice", async () => {
  await partitionScenario(proxiedDatabase);
});

Deno.test("two gateways in two network namespaces: the owner's veth goes down mid-turn; the other takes the bot, nothing is answered twice", async () => {
  // Without namespaces (not root, no ip netns) the same hosts are told apart by a proxy instead.
  await partitionScenario((await netnsAvailable()) ? namespaces : proxiedDatabase);
});
