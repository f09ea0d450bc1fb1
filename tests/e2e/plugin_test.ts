import assert from "node:assert/strict";
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

Deno.test("a plugin named in config.yaml adds a platform; the local web chat then stays off", async () => {
  await using home = tempDir();
  await Deno.mkdir(`${home.path}/plugins`);
  await Deno.writeTextFile(`${home.path}/plugins/pinger.js`, PLUGIN);
  await Deno.writeTextFile(
    `${home.path}/config.yaml`,
    "plugins: [plugins/pinger.js]\nplatforms:\n  pinger:\n    greeting: ping from a plugin\n",
  );
  await using gateway = await startGateway(home.path);
  const replies = `${home.path}/platforms/pinger/replies.txt`;
  await waitFor("the plugin to receive the echo", async () => {
    try {
      return (await Deno.readTextFile(replies)) === "ping from a plugin\n";
    } catch {
      return false;
    }
  });
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
