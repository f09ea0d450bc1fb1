/**
 * A fake OpenAI-compatible chat completions server on 127.0.0.1, written
 * from the public API's wire format: `POST /v1/chat/completions` streams
 * `chat.completion.chunk` events (or answers one `chat.completion`), and
 * can be told to fail (429 with Retry-After, 500), to be slow per token, or
 * to reply with scripted tokens. It records every request it served.
 *
 * @module
 */

/** What the fake does with the next requests. */
export interface FakeOpenAIBehaviour {
  /** Tokens of each reply; default: the last user message split into words. */
  tokens?: (messages: { role: string; content: string }[]) => string[];
  /** Delay before each token. */
  tokenDelayMs?: number;
  /** Statuses answered (in order) before requests succeed, e.g. [429, 500]. */
  failures?: number[];
  /** Retry-After seconds sent with a 429. */
  retryAfterS?: number;
  /** The `error.message` of a failure's body; default `fake failure <status>`. */
  failureMessage?: string;
}

/** A running fake. */
export interface FakeOpenAI extends AsyncDisposable {
  /** e.g. `http://127.0.0.1:40123/v1`. */
  readonly baseUrl: string;
  /** Bodies of every chat completions request, in arrival order. */
  readonly requests: Record<string, unknown>[];
  behaviour: FakeOpenAIBehaviour;
}

/**
 * Starts the fake.
 *
 * @example
 * ```ts
 * await using openai = startFakeOpenAI({ tokens: () => ["Hel", "lo"] });
 * ```
 */
export function startFakeOpenAI(behaviour: FakeOpenAIBehaviour = {}): FakeOpenAI {
  const requests: Record<string, unknown>[] = [];
  const state: { behaviour: FakeOpenAIBehaviour } = { behaviour };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    if (req.method !== "POST" || url.pathname !== "/v1/chat/completions") {
      return Response.json({ error: { message: "not found", type: "invalid_request_error" } }, {
        status: 404,
      });
    }
    let body: Record<string, unknown>;
    try {
      body = await req.json();
    } catch {
      return Response.json({ error: { message: "bad json", type: "invalid_request_error" } }, {
        status: 400,
      });
    }
    requests.push(body);
    const b = state.behaviour;
    const failure = b.failures?.shift();
    if (failure !== undefined) {
      return Response.json(
        {
          error: { message: b.failureMessage ?? `fake failure ${failure}`, type: "server_error" },
        },
        {
          status: failure,
          headers: failure === 429 ? { "retry-after": String(b.retryAfterS ?? 0) } : {},
        },
      );
    }
    const messages = (body.messages ?? []) as { role: string; content: string }[];
    const tokens = b.tokens?.(messages) ??
      (messages.findLast((m) => m.role === "user")?.content ?? "").split(/(?<=\s)/);
    const id = `chatcmpl-fake-${requests.length}`;
    const model = String(body.model ?? "fake");
    if (!body.stream) {
      await delay((b.tokenDelayMs ?? 0) * tokens.length, req.signal);
      return Response.json({
        id,
        object: "chat.completion",
        created: 0,
        model,
        choices: [{
          index: 0,
          message: { role: "assistant", content: tokens.join("") },
          finish_reason: "stop",
        }],
      });
    }
    const encoder = new TextEncoder();
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      encoder.encode(
        `data: ${
          JSON.stringify({
            id,
            object: "chat.completion.chunk",
            created: 0,
            model,
            choices: [{ index: 0, delta, finish_reason: finish }],
          })
        }\n\n`,
      );
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        try {
          controller.enqueue(chunk({ role: "assistant", content: "" }, null));
          for (const token of tokens) {
            await delay(b.tokenDelayMs ?? 0, req.signal);
            controller.enqueue(chunk({ content: token }, null));
          }
          controller.enqueue(chunk({}, "stop"));
          controller.enqueue(encoder.encode("data: [DONE]\n\n"));
          controller.close();
        } catch {
          // the client went away (a killed gateway): nothing to send to
        }
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  });
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}/v1`,
    requests,
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(next) {
      state.behaviour = next;
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new Error("client gone"));
    }, { once: true });
  });
}
