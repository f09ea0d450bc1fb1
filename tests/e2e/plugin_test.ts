import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { callControl } from "../../lib/gateway/control_client.ts";
import { runHermes, tempDir } from "../_helpers.ts";
import { startGateway, startHermes, waitFor } from "../gateway/_gateway.ts";

/** A third-party platform written only against the documented contract: no hermes imports. */
const PLUGIN = `
export const platform = {
  name: "pinger",
  description: "sends one message at connect and writes replies to a file",
  enabled: () => true,
  create(context) {
    const out = context.stateDir + "/replies.txt";
    return {
      name: "pinger",
      capabilities: { edit: false, liveEdits: false, maxMessageLength: 500 },
      async connect() {
        if (context.settings.credential) {
          await context.credentialLock("pinger-bot", String(context.settings.credential));
        }
        context.health.set("subscribed");
        await context.emit({
          messageId: "p-1",
          source: { platform: "pinger", chatType: "dm", chatId: "u1", userId: "u1" },
          text: String(context.settings.greeting),
          receivedAt: new Date().toISOString(),
        });
      },
      async disconnect() {},
      async send(_to, message) {
        await Deno.writeTextFile(out, message.text + "\\n", { append: true });
        return { messageId: "r-" + Date.now() };
      },
      health: () => context.health.snapshot(),
    };
  },
};
`;

/** A home with the pinger plugin installed and `settings` (YAML lines) under platforms.pinger. */
async function pingerHome(settings: string) {
  const home = tempDir();
  await Deno.mkdir(`${home.path}/plugins`);
  await Deno.writeTextFile(`${home.path}/plugins/pinger.js`, PLUGIN);
  await Deno.writeTextFile(
    `${home.path}/config.yaml`,
    `plugins: [plugins/pinger.js]\nplatforms:\n  pinger:\n${settings}`,
  );
  return home;
}

/** Waits until the plugin's replies file satisfies `done`; returns its text. */
async function repliesUntil(path: string, what: string, done: (text: string) => boolean) {
  let text = "";
  await waitFor(what, async () => done(text = await Deno.readTextFile(path).catch(() => "")));
  return text;
}

Deno.test("a plugin named in config.yaml adds a platform; the local web chat then stays off", async () => {
  await using home = await pingerHome("    greeting: ping from a plugin\n    allow_from: [U1]\n");
  await using gateway = await startGateway(home.path);
  const replies = `${home.path}/platforms/pinger/replies.txt`;
  await repliesUntil(
    replies,
    "the plugin to receive the echo",
    (text) => text === "ping from a plugin\n",
  );
  const status = await runHermes(["gateway", "status", "--json"], { home: home.path });
  const platforms = Object.keys(JSON.parse(status.stdout).platforms);
  assert.deepEqual(platforms, ["pinger"]);
  void gateway;
});

Deno.test("a plugin that cannot be loaded stops the start with exit 78 naming it", async () => {
  await using home = tempDir();
  await Deno.writeTextFile(`${home.path}/config.yaml`, "plugins: [plugins/missing.ts]\n");
  const gateway = startHermes(home.path);
  assert.equal(await gateway.exited, 78);
  assert.match(gateway.stderr(), /Cannot load plugin "plugins\/missing\.ts"/);
});

Deno.test("an open policy on a non-local platform needs an allow-all flag (exit 78 naming it)", async () => {
  await using home = await pingerHome("    greeting: hi\n    dm_policy: open\n");
  const refused = startHermes(home.path);
  assert.equal(await refused.exited, 78);
  assert.match(refused.stderr(), /platforms\.pinger\.dm_policy is "open"/);
  assert.match(
    refused.stderr(),
    /set PINGER_ALLOW_ALL_USERS=true \(or GATEWAY_ALLOW_ALL_USERS=true/,
  );

  // With the flag (here in .env), the stranger u1 reaches the agent.
  await Deno.writeTextFile(`${home.path}/.env`, "PINGER_ALLOW_ALL_USERS=true\n");
  await using gateway = await startGateway(home.path);
  const replies = `${home.path}/platforms/pinger/replies.txt`;
  await repliesUntil(replies, "the echo to the stranger", (text) => text === "hi\n");
  void gateway;
});

Deno.test("a plugin platform's stranger gets a pairing code by default", async () => {
  await using home = await pingerHome("    greeting: let me in\n");
  await using gateway = await startGateway(home.path);
  const replies = `${home.path}/platforms/pinger/replies.txt`;
  const text = await repliesUntil(replies, "the pairing code", (t) => t !== "");
  assert.match(text, /hermes pair approve [A-Z2-9]{8}/);
  assert.doesNotMatch(text, /let me in/);
  void gateway;
});

Deno.test("a user approved while no gateway runs is told when the next gateway connects their platform", async () => {
  await using home = await pingerHome("    greeting: thanks\n");
  const approved = await runHermes(["pair", "approve", "--user", "pinger:u1"], { home: home.path });
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, /No gateway is running; they are told when it next starts/);

  await using gateway = await startGateway(home.path);
  const replies = `${home.path}/platforms/pinger/replies.txt`;
  const text = await repliesUntil(
    replies,
    "the notice and the echo",
    (t) => t.includes("thanks") && t.includes("You're approved"),
  );
  assert.deepEqual(text.trim().split("\n").sort(), [
    "You're approved: you can now talk to the bot.",
    "thanks",
  ]);
  // Told once: a planned stop waits for the notice to be marked as told, so the
  // next gateway has nothing left to tell. (Only a kill -9 between the send and
  // the mark can repeat it, as with any reply.)
  const stopped = await runHermes(["gateway", "stop"], { home: home.path });
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(await gateway.exited, 0);
  await using again = await startGateway(home.path);
  const result = await callControl(hermesPaths(home.path).controlSocket, "pairing_notify");
  assert.deepEqual(result, { delivered: [] });
  assert.equal((await Deno.readTextFile(replies)).split("You're approved").length, 2);
  void again;
});

Deno.test("two gateways (two homes) wanting one bot credential: the second waits, naming the first, and takes over when it stops", async () => {
  await using locks = tempDir();
  const shared = { HERMES_GATEWAY_LOCK_DIR: locks.path };
  await using first = await pingerHome(
    "    greeting: hi\n    allow_from: [u1]\n    credential: token-1\n",
  );
  await using second = await pingerHome(
    "    greeting: hi\n    allow_from: [u1]\n    credential: token-1\n",
  );
  await using one = await startGateway(first.path, shared);
  await repliesUntil(
    `${first.path}/platforms/pinger/replies.txt`,
    "the first to serve",
    (t) => t !== "",
  );
  await using two = await startGateway(second.path, shared);
  await waitFor(
    "the second to be refused the credential",
    () => /its credential is in use by the gateway PID \d+ \(home [^)]*\)/.test(two.stderr()),
  );
  assert.ok(two.stderr().includes(`PID ${one.pid}`), two.stderr());
  const status = JSON.parse(
    (await runHermes(["gateway", "status", "--json"], { home: second.path, env: shared })).stdout,
  );
  assert.equal(status.platforms.pinger.connected, false);

  const stopped = await runHermes(["gateway", "stop"], { home: first.path, env: shared });
  assert.equal(stopped.code, 0, stopped.stderr);
  await repliesUntil(
    `${second.path}/platforms/pinger/replies.txt`,
    "the second to serve once the first stopped",
    (t) => t !== "",
  );
});
