import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { readRuntimeStatus } from "../../lib/process/runtime_status.ts";
import { tempDir } from "../_helpers.ts";
import { startInBackground, waitFor } from "../gateway/_gateway.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";
import { readChatChunks } from "./_sse.ts";

Deno.test("one Ctrl-C under deno task drains: the streaming client gets the whole reply, the gateway exits 0", async () => {
  const tokens = Array.from({ length: 10 }, (_, i) => `token${i} `);
  await using openai = startFakeOpenAI({ tokens: () => tokens, tokenDelayMs: 100 });
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  // `deno task gateway` in a process group of its own, as a terminal runs it.
  await using task = startInBackground(["task", "gateway"], dir.path, {
    HERMES_MODEL: "fake",
    OPENAI_BASE_URL: openai.baseUrl,
    OPENAI_API_KEY: "x",
    HERMES_LOG_LEVEL: "debug",
  }, { ownGroup: true });

  let url = "";
  let gatewayPid = 0;
  await Promise.race([
    waitFor("the gateway's local URL", () => {
      const status = readRuntimeStatus(paths.runtimeStatus);
      const local = status?.platforms?.local as { details?: { url?: string } } | undefined;
      url = status?.gateway_state === "running" ? local?.details?.url ?? "" : "";
      gatewayPid = status?.pid ?? 0;
      return url !== "";
    }, 60_000),
    task.exited.then((code) => {
      throw new Error(`deno task gateway exited ${code}: ${task.stderr()}`);
    }),
  ]);
  assert.notEqual(gatewayPid, task.pid, "deno task runs the gateway as a child process");

  const response = await fetch(new URL("v1/chat/completions", url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "hermes",
      messages: [{ role: "user", content: "tell me slowly" }],
      stream: true,
      user: "ctrl-c",
    }),
  });
  assert.equal(response.status, 200);
  const received: string[] = [];
  let interrupted = false;
  const { finishReasons, done } = await readChatChunks(response, (content) => {
    received.push(content);
    if (!interrupted) {
      interrupted = true;
      Deno.kill(-task.pid, "SIGINT"); // the whole group, as the terminal does on Ctrl-C
    }
  });

  assert.ok(interrupted, "a first chunk arrived before the reply ended");
  assert.equal(received.join(""), tokens.join(""), task.stderr());
  assert.deepEqual(finishReasons, ["stop"]);
  assert.ok(done, "the stream ended with [DONE]");
  assert.equal(await task.exited, 0, task.stderr());
  const state = readRuntimeStatus(paths.runtimeStatus);
  assert.equal(state?.pid, gatewayPid);
  assert.equal(state?.gateway_state, "stopped");
  assert.equal(state?.exit_code, 0);
  assert.match(state?.exit_reason ?? "", /interrupted/);
  const log = task.stderr();
  assert.ok(!log.includes("second stop request"), "the drain was not cut short");
  const repeats = log.split("\n").filter((l) => l.includes("repeated stop request")).length;
  console.log(`SIGINTs the gateway handled: ${1 + repeats}`);
});
