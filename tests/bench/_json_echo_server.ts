/**
 * The ceiling the pipeline bench measures the gateway against: a plain
 * `Deno.serve` process doing the same JSON work per request as the local
 * API's `POST /v1/chat/completions` with the echo agent (parse the request,
 * check it, answer a chat completion with the last user message), and
 * nothing else: no journal, no session, no fsync. Prints its URL on stdout.
 *
 * @module
 */

let served = 0;
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  async (request) => {
    if (request.method !== "POST") return new Response("POST only", { status: 405 });
    const body = await request.json() as {
      user?: string;
      messages?: { role: string; content: string }[];
    };
    const last = body.messages?.findLast((m) => m.role === "user");
    if (!last || typeof last.content !== "string") {
      return Response.json({ error: { message: "no user message" } }, { status: 400 });
    }
    const completion = {
      id: `chatcmpl-${++served}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: "echo",
      choices: [{
        index: 0,
        message: { role: "assistant", content: last.content },
        finish_reason: "stop",
      }],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    };
    return Response.json(completion);
  },
);
console.log(`http://127.0.0.1:${server.addr.port}/`);
