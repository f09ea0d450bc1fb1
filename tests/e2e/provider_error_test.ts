import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { startLocalGateway } from "./_local.ts";

Deno.test("a provider's error body never reaches the user: the reply has an error id, the log has the masked detail under it", async () => {
  const configuredKey = "configured-openai-key-0042";
  const strayKey = "sk-proj-Zx9QwErTy123456UiOpAsDfGh";
  const longText = "Please see the documentation for the details of this failure. ".repeat(5);
  await using provider = startFakeOpenAI({
    failures: [401],
    failureMessage:
      `Incorrect API key provided: ${strayKey} (yours: ${configuredKey}). ${longText}`,
  });
  await using home = tempDir();
  await using local = await startLocalGateway(home.path, {
    HERMES_MODEL: "fake-model",
    OPENAI_BASE_URL: provider.baseUrl,
    OPENAI_API_KEY: configuredKey,
  });
  const response = await fetch(new URL("v1/chat/completions", local.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
  });
  assert.equal(response.status, 200);
  const reply: string = (await response.json()).choices[0].message.content;

  const id = /\(error id ([0-9a-f]{6})\)/.exec(reply)?.[1];
  assert.ok(id, `the reply names an error id: ${reply}`);
  assert.equal(
    reply,
    `⚠️ Sorry, I could not answer: the model refused the request (HTTP 401) (error id ${id}). ` +
      "The operator can look it up in the gateway log.",
  );
  for (const secret of [strayKey, configuredKey, "Incorrect API key", "documentation"]) {
    assert.ok(!reply.includes(secret), `the reply does not carry "${secret}"`);
  }

  const logged = local.gateway.stderr().split("\n")
    .filter((line) => line.includes('"agent turn failed"'))
    .map((line) => JSON.parse(line) as { error_id?: string; detail?: string });
  assert.equal(logged.length, 1, local.gateway.stderr());
  const [line] = logged;
  assert.equal(line!.error_id, id, "the log line carries the same id");
  assert.ok(line!.detail?.startsWith("Incorrect API key provided: sk-***"), line!.detail);
  assert.ok(line!.detail?.includes(longText.trim()), "the whole detail is in the log");
  const raw = local.gateway.stderr();
  assert.ok(!raw.includes(strayKey), "the key-looking string is masked in the log");
  assert.ok(!raw.includes(configuredKey), "the configured key is masked in the log");
});
