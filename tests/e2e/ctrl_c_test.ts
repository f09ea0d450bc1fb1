import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { readRuntimeStatus } from "../../lib/process/runtime_status.ts";
import { ROOT, tempDir } from "../_helpers.ts";
import { testEnv, waitFor } from "../gateway/_gateway.ts";
import { startFakeOpenAI } from "../fakes/openai_server.ts";

/** `deno task gateway` in a process group of its own, as a terminal runs it; killed on dispose. */
function startDenoTaskGateway(home: string, env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "gateway"],
    cwd: ROOT,
    env: testEnv(home, env),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    detached: true,
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const reading = child.stderr.pipeTo(
    new WritableStream({ write: (chunk) => void (text += decoder.decode(chunk)) }),
  );
  const exited = Promise.all([child.status, reading]).then(([status]) => status.code);
  return {
    pid: child.pid,
    exited,
    stderr: () => text,
    async [Symbol.asyncDispose]() {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is gone
      }
      await exited;
    },
  };
}

/** Reads an SSE response of chat.completion.chunk events; calls `onContent` with each delta. */
async function readChunks(
  response: Response,
  onContent: (content: string) => void,
): Promise<{ finish: string | null; done: boolean }> {
  let buffer = "";
  let finish: string | null = null;
  let done = false;
  const decoder = new TextDecoder();
  for await (const bytes of response.body!) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice("data: ".length);
        if (data === "[DONE]") {
          done = true;
          continue;
        }
        const choice = JSON.parse(data).choices?.[0];
        if (choice?.delta?.content) onContent(choice.delta.content);
        finish = choice?.finish_reason ?? finish;
      }
    }
  }
  return { finish, done };
}

Deno.test("one Ctrl-C under deno task drains: the streaming client gets the whole reply, the gateway exits 0", async () => {
  const tokens = Array.from({ length: 10 }, (_, i) => `token${i} `);
  await using openai = startFakeOpenAI({ tokens: () => tokens, tokenDelayMs: 100 });
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  await using task = startDenoTaskGateway(dir.path, {
    HERMES_MODEL: "fake",
    OPENAI_BASE_URL: openai.baseUrl,
    OPENAI_API_KEY: "x",
    HERMES_LOG_LEVEL: "debug",
  });

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
  const { finish, done } = await readChunks(response, (content) => {
    received.push(content);
    if (!interrupted) {
      interrupted = true;
      Deno.kill(-task.pid, "SIGINT"); // the whole group, as the terminal does on Ctrl-C
    }
  });

  assert.ok(interrupted, "a first chunk arrived before the reply ended");
  assert.equal(received.join(""), tokens.join(""), task.stderr());
  assert.equal(finish, "stop");
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
