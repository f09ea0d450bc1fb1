import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { runHermes, tempDir } from "../_helpers.ts";
import { testEnv } from "../gateway/_gateway.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { startLocalGateway } from "./_local.ts";

/** A tiny PNG (its signature and a few bytes are enough for the sniffer). */
const PNG = new Uint8Array([
  0x89,
  0x50,
  0x4e,
  0x47,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
  0,
  0,
  0,
  13,
  73,
  72,
  68,
  82,
  7,
]);
const DATA_URL = `data:image/png;base64,${Buffer.from(PNG).toString("base64")}`;

function ask(url: string, content: unknown[]) {
  return fetch(new URL("v1/chat/completions", url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "hermes", messages: [{ role: "user", content }] }),
  });
}

const withImage = [
  { type: "text", text: "what is in this picture?" },
  { type: "image_url", image_url: { url: DATA_URL } },
];

type Part = { type: string; text?: string; image_url?: { url: string } };

Deno.test("an image sent as an image_url data URL reaches the model with the same bytes, next to the text", async () => {
  await using provider = startFakeOpenAI({ tokens: () => ["A small ", "test image."] });
  await using home = tempDir();
  await using local = await startLocalGateway(home.path, {
    HERMES_MODEL: "fake",
    OPENAI_BASE_URL: provider.baseUrl,
    OPENAI_API_KEY: "x",
  });
  const response = await ask(local.url, withImage);
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal((await response.json()).choices[0].message.content, "A small test image.");

  const sent = provider.requests[0]!.messages as { role: string; content: string | Part[] }[];
  const user = sent.findLast((m) => m.role === "user")!;
  assert.ok(Array.isArray(user.content));
  const [text, image] = user.content as Part[];
  assert.deepEqual(text, { type: "text", text: "what is in this picture?" });
  assert.equal(image!.type, "image_url");
  const [, base64] = image!.image_url!.url.split(";base64,");
  assert.deepEqual(new Uint8Array(Buffer.from(base64!, "base64")), PNG, "the very same bytes");
  assert.match(image!.image_url!.url, /^data:image\/png;base64,/);

  // `sessions show` lists the attachment, and the cached file holds the bytes.
  const shown = await runHermes(["sessions", "show", "agent:main:local:dm:api", "--json"], {
    home: home.path,
    env: testEnv(home.path),
  });
  const messages = JSON.parse(shown.stdout).messages as {
    role: string;
    attachments: { kind: string; mime: string; size: number; path: string }[];
  }[];
  const [attachment] = messages[0]!.attachments;
  assert.deepEqual([attachment!.kind, attachment!.mime, attachment!.size], [
    "image",
    "image/png",
    PNG.length,
  ]);
  assert.ok(attachment!.path.startsWith(`${home.path}/media/`));
  assert.deepEqual(await Deno.readFile(attachment!.path), PNG);
  assert.deepEqual(messages[1]!.attachments, []);
});

Deno.test("with agent.vision false the model gets a note naming the image instead", async () => {
  await using provider = startFakeOpenAI({ tokens: () => ["noted"] });
  await using home = tempDir();
  await using local = await startLocalGateway(home.path, {
    HERMES_MODEL: "fake",
    OPENAI_BASE_URL: provider.baseUrl,
    OPENAI_API_KEY: "x",
    HERMES_AGENT_VISION: "false",
  });
  assert.equal((await ask(local.url, withImage)).status, 200);
  const user = (provider.requests[0]!.messages as { role: string; content: Part[] }[])
    .findLast((m) => m.role === "user")!;
  assert.deepEqual(user.content.map((p) => p.type), ["text", "text"]);
  assert.match(
    user.content[1]!.text!,
    /^\[attached image \S+ \(image\/png, 17 bytes\) at \S+\/media\/\S+\.png\]$/,
  );
});

Deno.test("a command agent gets the image's path in its turn, and the file holds the same bytes", async () => {
  await using home = tempDir();
  const program = `${home.path}/agent.js`;
  await Deno.writeTextFile(
    program,
    `const turn = JSON.parse(await new Response(Deno.stdin.readable).text());
     const [file] = turn.history.at(-1).attachments;
     const bytes = await Deno.readFile(file.path);
     console.log(JSON.stringify({ delta: file.kind + " " + file.mime + " " + Array.from(bytes).join(",") }));`,
  );
  await Deno.writeTextFile(
    `${home.path}/config.yaml`,
    `agent:\n  command: [${JSON.stringify(Deno.execPath())}, run, -A, ${
      JSON.stringify(program)
    }]\n`,
  );
  await using local = await startLocalGateway(home.path);
  const response = await ask(local.url, withImage);
  assert.equal(
    (await response.json()).choices[0].message.content,
    `image image/png ${Array.from(PNG).join(",")}`,
  );
});

Deno.test("an image URL pointing inside this machine or its cloud is refused (400), and nothing is stored", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  for (
    const url of [
      "http://169.254.169.254/latest/meta-data/",
      "http://[::1]:8642/",
      "file:///etc/passwd",
    ]
  ) {
    const response = await ask(local.url, [
      { type: "text", text: "look" },
      { type: "image_url", image_url: { url } },
    ]);
    assert.equal(response.status, 400, url);
    assert.match((await response.json()).error.message, /^Invalid image: Cannot download /);
  }
  const bad = await ask(local.url, [{
    type: "image_url",
    image_url: { url: "data:image/png,notbase64" },
  }]);
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /must be base64/);
  assert.equal(await Deno.stat(`${home.path}/media`).then(() => true, () => false), false);
});
