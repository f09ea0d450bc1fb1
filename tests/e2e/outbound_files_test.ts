import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { startGateway, waitFor } from "../gateway/_gateway.ts";

/** A plugin platform that sends files (`media.out`) and writes what it was asked to send. */
const PLUGIN = `
export const platform = {
  name: "files",
  description: "sends files",
  enabled: () => true,
  create(context) {
    return {
      name: "files",
      capabilities: { streaming: "final", maxMessageLength: 500, media: { in: [], out: ["file"] } },
      async connect() {
        context.health.set("subscribed");
        await context.emit({
          messageId: "f-1",
          source: { platform: "files", chatType: "dm", chatId: "u1", userId: "u1" },
          text: "send me the report",
          receivedAt: new Date().toISOString(),
        });
      },
      async disconnect() {},
      async send(_to, message) {
        const sent = { text: message.text, files: (message.attachments ?? []).map((f) => [f.name, f.mime, f.path]) };
        await Deno.writeTextFile(context.stateDir + "/sent.json", JSON.stringify(sent));
        return { status: "sent", messageId: "m-1" };
      },
      health: () => context.health.snapshot(),
    };
  },
};
`;

Deno.test("a reply's MEDIA: lines send files from the allowed folders only; /etc/passwd is refused and logged", async () => {
  await using home = tempDir();
  await Deno.mkdir(`${home.path}/plugins`);
  await Deno.mkdir(`${home.path}/reports`);
  await Deno.writeTextFile(`${home.path}/plugins/files.js`, PLUGIN);
  await Deno.writeTextFile(`${home.path}/reports/q3.pdf`, "%PDF-1.7 the numbers");
  const program = `${home.path}/agent.js`;
  await Deno.writeTextFile(
    program,
    `await new Response(Deno.stdin.readable).text();
     const reply = "Here you go.\\nMEDIA:${home.path}/reports/q3.pdf\\nMEDIA:/etc/passwd";
     console.log(JSON.stringify({ delta: reply }));`,
  );
  await Deno.writeTextFile(
    `${home.path}/config.yaml`,
    [
      "plugins: [plugins/files.js]",
      "platforms:",
      "  files:",
      "    allow_from: [u1]",
      "agent:",
      `  command: [${JSON.stringify(Deno.execPath())}, run, -A, ${JSON.stringify(program)}]`,
      `  media_dirs: [${JSON.stringify(`${home.path}/reports`)}]`,
    ].join("\n") + "\n",
  );
  await using gateway = await startGateway(home.path);
  const out = `${home.path}/platforms/files/sent.json`;
  await waitFor("the reply", async () => await Deno.stat(out).then(() => true, () => false));
  const sent = JSON.parse(await Deno.readTextFile(out));
  assert.equal(sent.text, "Here you go.\n[not sent: passwd]");
  assert.deepEqual(sent.files.map((f: string[]) => f.slice(0, 2)), [["q3.pdf", "application/pdf"]]);
  // What went is a copy taken when the reply was made, in the media cache.
  assert.ok(sent.files[0][2].startsWith(`${home.path}/media/`), sent.files[0][2]);
  assert.equal(await Deno.readTextFile(sent.files[0][2]), "%PDF-1.7 the numbers");
  await waitFor(
    "the refusal logged",
    () => /refused to send a file a reply named/.test(gateway.stderr()),
  );
  assert.match(gateway.stderr(), /\/etc\/passwd/);
});
