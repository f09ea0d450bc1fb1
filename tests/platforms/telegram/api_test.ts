import assert from "node:assert/strict";
import { TelegramApi } from "../../../lib/platforms/telegram/api.ts";
import { TelegramError } from "../../../lib/platforms/telegram/errors.ts";

const TOKEN = "123456:AAE-secret-token";

/** A Bot API stand-in on 127.0.0.1 answering each request with `answer`; records what came. */
function server(answer: (method: string, request: Request) => Response | Promise<Response>) {
  const seen: { method: string; path: string; type: string; body: string }[] = [];
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      const method = path.split("/").at(-1)!;
      seen.push({
        method,
        path,
        type: request.headers.get("content-type") ?? "",
        body: await request.clone().text(),
      });
      return answer(method, request);
    },
  );
  return {
    api: new TelegramApi({ token: TOKEN, baseUrl: `http://127.0.0.1:${http.addr.port}` }),
    seen,
    [Symbol.asyncDispose]: () => http.shutdown(),
  };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

async function refusal(promise: Promise<unknown>): Promise<TelegramError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TelegramError, String(error));
    assert.ok(!error.message.includes(TOKEN), `the token leaked: ${error.message}`);
    return error;
  }
  throw new Error("the call succeeded");
}

Deno.test("call() posts the parameters as JSON to /bot<token>/<method> and answers the result", async () => {
  await using s = server(() => json(200, { ok: true, result: { message_id: 7 } }));
  const result = await s.api.call("sendMessage", {
    chat_id: 42,
    text: "hi",
    reply_parameters: undefined,
  });
  assert.deepEqual(result, { message_id: 7 });
  assert.equal(s.seen[0]!.path, `/bot${TOKEN}/sendMessage`);
  assert.equal(s.seen[0]!.type, "application/json");
  assert.deepEqual(JSON.parse(s.seen[0]!.body), { chat_id: 42, text: "hi" });
});

Deno.test("a refusal becomes a TelegramError with the action its code and wording call for", async (t) => {
  const cases = [
    [
      429,
      { description: "Too Many Requests: retry after 3", parameters: { retry_after: 3 } },
      "retry_after",
      true,
    ],
    [
      400,
      {
        description:
          "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
      },
      "plain_fallback",
      false,
    ],
    [
      400,
      {
        description:
          "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
      },
      "not_modified",
      false,
    ],
    [400, { description: "Bad Request: message thread not found" }, "drop_thread", false],
    [403, { description: "Forbidden: bot was blocked by the user" }, "blocked", false],
    [
      409,
      {
        description:
          "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
      },
      "conflict",
      false,
    ],
    [401, { description: "Unauthorized" }, "unauthorized", false],
    // Telegram may have sent it before failing: a send is not tried again by itself.
    [500, { description: "Internal Server Error: restart" }, "retry", false],
    [421, { description: "Misdirected Request" }, "retry", true],
  ] as const;
  for (const [status, body, action, retryable] of cases) {
    await t.step(`${status} ${body.description.slice(0, 40)}`, async () => {
      await using s = server(() => json(status, { ok: false, error_code: status, ...body }));
      const error = await refusal(s.api.call("sendMessage", { chat_id: 1, text: "x" }));
      assert.equal(error.action, action);
      assert.equal(error.retryable, retryable);
      assert.equal(error.errorCode, status);
      assert.equal(error.platformCode, String(status));
      if (action === "retry_after") assert.equal(error.retryAfterMs, 3_000);
    });
  }
});

Deno.test("a 5xx is tried again for a call that does the same however often it runs", async () => {
  await using s = server(() =>
    json(502, { ok: false, error_code: 502, description: "Bad Gateway" })
  );
  for (
    const [method, retryable] of [["editMessageText", true], ["getUpdates", true], [
      "sendPhoto",
      false,
    ]] as const
  ) {
    assert.equal((await refusal(s.api.call(method))).retryable, retryable, method);
  }
});

Deno.test("a migrated group's refusal carries the new chat id", async () => {
  await using s = server(() =>
    json(400, {
      ok: false,
      error_code: 400,
      description: "Bad Request: group chat was upgraded to a supergroup chat",
      parameters: { migrate_to_chat_id: -1001234567890 },
    })
  );
  const error = await refusal(s.api.call("sendMessage", { chat_id: -42, text: "x" }));
  assert.equal(error.action, "migrate");
  assert.equal(error.migrateToChatId, -1001234567890);
});

Deno.test("a 429 without parameters takes its wait from Retry-After; a page that is no JSON is an HTTP error", async () => {
  {
    await using s = server(() =>
      json(429, { ok: false, error_code: 429, description: "Too Many Requests: retry after 5" }, {
        "retry-after": "5",
      })
    );
    assert.equal((await refusal(s.api.call("editMessageText"))).retryAfterMs, 5_000);
  }
  {
    await using s = server(() => new Response("<html>Bad Gateway</html>", { status: 502 }));
    const error = await refusal(s.api.call("getMe"));
    assert.equal(error.errorCode, 502);
    assert.equal(error.action, "retry");
  }
});

Deno.test("a request that never left is tried again, twice; the error names no token", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close(); // nothing listens there now: every connect is refused
  const api = new TelegramApi({ token: TOKEN, baseUrl: `http://127.0.0.1:${port}` });
  const started = performance.now();
  const error = await refusal(api.call("sendMessage", { chat_id: 1, text: "x" }));
  assert.equal(error.delivery, "unsent");
  assert.equal(error.retryable, true);
  assert.ok(performance.now() - started >= 1_400, "two tries again, after 0.5 s and 1 s");
});

Deno.test("a send that may have reached Telegram is not retryable; an edit that may have is", async () => {
  await using s = server(async (_method, request) => {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await request.body?.cancel();
    return json(200, { ok: true, result: true });
  });
  const send = await refusal(
    s.api.call("sendMessage", { chat_id: 1, text: "x" }, { timeoutMs: 100 }),
  );
  assert.equal(send.delivery, "unknown");
  assert.equal(send.retryable, false, "a second send could show the reply twice");
  const edit = await refusal(
    s.api.call("editMessageText", { chat_id: 1, message_id: 2, text: "x" }, { timeoutMs: 100 }),
  );
  assert.equal(edit.retryable, true);
  assert.equal(s.seen.length, 2, "neither was tried again by the client itself");
});

Deno.test("a call with files goes as multipart, other parameters as fields", async () => {
  await using s = server(async (_method, request) => {
    const form = await request.formData();
    const photo = form.get("photo") as File;
    return json(200, {
      ok: true,
      result: {
        chat: form.get("chat_id"),
        name: photo.name,
        type: photo.type,
        size: photo.size,
        reply: form.get("reply_parameters"),
      },
    });
  });
  const result = await s.api.call(
    "sendPhoto",
    { chat_id: 42, reply_parameters: { message_id: 3 } },
    {
      files: {
        photo: { bytes: new Uint8Array([137, 80, 78, 71]), name: "chart.png", mime: "image/png" },
      },
    },
  );
  assert.deepEqual(result, {
    chat: "42",
    name: "chart.png",
    type: "image/png",
    size: 4,
    reply: '{"message_id":3}',
  });
  assert.match(s.seen[0]!.type, /^multipart\/form-data/);
});
