/**
 * The local platform: an HTTP server (default 127.0.0.1:8642) with a web
 * chat page (`GET /`, its WebSocket `GET /ws`), an OpenAI-compatible
 * `POST /v1/chat/completions` and `GET /healthz`. A chat is a DM whose id
 * is the user (`?user=` on the page, the `user` field in the API, default
 * `local`), or on the WebSocket a group room shared by everyone who joins
 * it with `?group=`.
 *
 * @module
 */

import type { AdapterContext, Capabilities, PlatformAdapter } from "../adapter.ts";
import type { MessageEvent, OutboundMessage, SendResult, SessionSource } from "../event.ts";
import type { LinkHealth } from "../health.ts";
import {
  type ApiError,
  apiError,
  chunkEvent,
  completionBody,
  parseChatRequest,
} from "./chat_completions.ts";
import { CHAT_PAGE } from "./page.ts";
import { ReplyWaiter } from "./reply_waiter.ts";
import { isValidUser, USER_RULE } from "./_user.ts";

const MAX_WS_TEXT = 64 * 1024;

/**
 * The local web chat and API.
 *
 * @example
 * ```ts
 * const adapter = new LocalAdapter(context);
 * await adapter.connect(); // listening
 * ```
 */
export class LocalAdapter implements PlatformAdapter {
  readonly name = "local";
  readonly capabilities: Capabilities = { edit: true, liveEdits: true, maxMessageLength: 100_000 };
  readonly #context: AdapterContext;
  readonly #sockets = new Map<string, Set<WebSocket>>();
  readonly #waiters = new Map<string, ReplyWaiter>();
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;

  constructor(context: AdapterContext) {
    this.#context = context;
  }

  /** The address the server listens on, once connected. */
  get address(): Deno.NetAddr | undefined {
    return this.#server?.addr;
  }

  connect(): Promise<void> {
    const { host, port } = this.#context.config.local;
    const listening = Promise.withResolvers<void>();
    try {
      this.#server = Deno.serve({
        hostname: host,
        port,
        onListen: () => listening.resolve(),
        onError: (error) => {
          this.#context.log.error("local platform request failed", { error });
          return json(
            500,
            apiError(500, "Internal error; see the gateway log", null, "server_error").body,
          );
        },
      }, (request, info) => this.#handle(request, info));
    } catch (error) {
      const hint = error instanceof Deno.errors.AddrInUse
        ? `; set local.port (or LOCAL_PORT) to a free port`
        : "";
      throw new Error(`Cannot listen on ${host}:${port}: ${(error as Error).message}${hint}`, {
        cause: error,
      });
    }
    return listening.promise.then(() => {
      const addr = this.#server!.addr;
      const url = `http://${
        addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
      }:${addr.port}/`;
      this.#context.health.detail("url", url);
      this.#context.health.set("subscribed");
      this.#context.log.info("web chat ready", { url });
    });
  }

  async disconnect(_reason: string): Promise<void> {
    for (const sockets of this.#sockets.values()) {
      for (const socket of sockets) socket.close(1001, "gateway stopping");
    }
    this.#sockets.clear();
    for (const waiter of this.#waiters.values()) waiter.end();
    this.#waiters.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server) await server.shutdown();
    this.#context.health.set("stopped");
  }

  send(to: SessionSource, message: OutboundMessage): Promise<SendResult> {
    const messageId = `r-${crypto.randomUUID()}`;
    this.#deliver(to, messageId, message);
    return Promise.resolve({ messageId });
  }

  edit(to: SessionSource, messageId: string, message: OutboundMessage): Promise<SendResult> {
    this.#deliver(to, messageId, message);
    return Promise.resolve({ messageId });
  }

  settled(event: MessageEvent, outcome: string): void {
    const waiter = this.#waiters.get(event.messageId);
    if (waiter) {
      this.#waiters.delete(event.messageId);
      waiter.end();
    }
    this.#broadcast(event.source, { type: "settled", reply_to: event.messageId, outcome });
  }

  health(): LinkHealth {
    return this.#context.health.snapshot();
  }

  #deliver(to: SessionSource, messageId: string, message: OutboundMessage): void {
    if (message.replyTo) this.#waiters.get(message.replyTo)?.update(messageId, message.text);
    this.#broadcast(to, {
      type: "message",
      id: messageId,
      reply_to: message.replyTo ?? null,
      text: message.text,
      final: message.final,
    });
    this.#context.health.sendOk();
  }

  #broadcast(chat: SessionSource, frame: Record<string, unknown>): void {
    const sockets = this.#sockets.get(roomOf(chat));
    if (!sockets) return;
    const data = JSON.stringify(frame);
    for (const socket of sockets) {
      if (socket.readyState === WebSocket.OPEN) socket.send(data);
    }
  }

  #handle(
    request: Request,
    _info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/":
        return only(request, "GET", () =>
          new Response(CHAT_PAGE, {
            headers: {
              "content-type": "text/html; charset=utf-8",
              "cache-control": "no-store",
              "content-security-policy":
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
            },
          }));
      case "/favicon.ico":
        return new Response(null, { status: 204 });
      case "/healthz":
        return only(request, "GET", () => json(200, this.#healthBody()));
      case "/ws":
        return only(request, "GET", () => this.#upgrade(request, url));
      case "/v1/chat/completions":
        return only(request, "POST", () => this.#chatCompletions(request));
      case "/v1/models":
        return only(request, "GET", () =>
          this.#authorized(request) ?? json(200, {
            object: "list",
            data: [{ id: "hermes", object: "model", created: 0, owned_by: "hermes" }],
          }));
      default:
        return json(404, apiError(404, `Not found: ${url.pathname}`).body);
    }
  }

  #healthBody(): Record<string, unknown> {
    const status = this.#context.gatewayStatus();
    return { status: "ok", gateway: status.state, pid: status.pid, platforms: status.platforms };
  }

  /** The 401 response when an API key is required and missing or wrong; undefined when allowed. */
  #authorized(request: Request, token?: string | null): Response | undefined {
    const key = this.#context.config.local.api_key;
    if (!key) return undefined;
    const given = token ?? request.headers.get("authorization")?.replace(/^Bearer\s+/i, "");
    if (given && timingSafeEqual(given, key)) return undefined;
    return json(
      401,
      apiError(401, "Missing or invalid API key: send Authorization: Bearer <LOCAL_API_KEY>").body,
    );
  }

  #serving(): Response | undefined {
    const state = this.#context.gatewayStatus().state;
    if (state === "running") return undefined;
    return new Response(
      JSON.stringify(
        apiError(503, `The gateway is ${state}; retry in a few seconds`, null, "server_error").body,
      ),
      { status: 503, headers: { "content-type": "application/json", "retry-after": "2" } },
    );
  }

  async #chatCompletions(request: Request): Promise<Response> {
    const refused = this.#authorized(request) ?? this.#serving();
    if (refused) return refused;
    const body = await readJsonBody(request, this.#context.config.local.max_body_bytes);
    if ("status" in body) return json(body.status, body.body);
    const parsed = parseChatRequest(body.value);
    if ("status" in parsed) return json(parsed.status, parsed.body);

    const messageId = `api-${crypto.randomUUID()}`;
    const waiter = new ReplyWaiter();
    this.#waiters.set(messageId, waiter);
    const event: MessageEvent = {
      messageId,
      source: { platform: "local", chatType: "dm", chatId: parsed.user, userId: parsed.user },
      text: parsed.text,
      receivedAt: this.#context.now().toISOString(),
    };
    try {
      await this.#context.emit(event);
    } catch (error) {
      this.#waiters.delete(messageId);
      throw error;
    }
    this.#context.health.inbound("dm");
    const id = `chatcmpl-${messageId.slice(4)}`;
    if (!parsed.stream) {
      return json(200, completionBody(id, parsed.model, await waiter.done));
    }
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        const write = (text: string) => {
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            waiter.onDelta = undefined; // the client went away; the turn goes on
          }
        };
        write(chunkEvent(id, parsed.model, { role: "assistant", content: "" }));
        waiter.onDelta = (delta) => write(chunkEvent(id, parsed.model, { content: delta }));
        waiter.done.then(() => {
          write(chunkEvent(id, parsed.model, undefined));
          write("data: [DONE]\n\n");
          try {
            controller.close();
          } catch {
            // already closed by the client
          }
        });
      },
      cancel() {
        waiter.onDelta = undefined;
      },
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  }

  #upgrade(request: Request, url: URL): Response {
    const refused = this.#authorized(request, url.searchParams.get("token"));
    if (refused) return refused;
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return json(426, apiError(426, "Expected a WebSocket upgrade").body);
    }
    const user = url.searchParams.get("user") || "local";
    if (!isValidUser(user)) {
      return json(400, apiError(400, `Invalid user: ${USER_RULE}`, "user").body);
    }
    const group = url.searchParams.get("group");
    if (group !== null && !isValidUser(group)) {
      return json(400, apiError(400, `Invalid group: ${USER_RULE}`, "group").body);
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    const source: SessionSource = group === null
      ? { platform: "local", chatType: "dm", chatId: user, userId: user }
      : { platform: "local", chatType: "group", chatId: group, userId: user };
    const room = roomOf(source);
    socket.onopen = () => {
      let sockets = this.#sockets.get(room);
      if (!sockets) this.#sockets.set(room, sockets = new Set());
      sockets.add(socket);
      socket.send(JSON.stringify({
        type: "ready",
        user,
        group,
        commands: this.#context.commands,
        history: this.#context.history(source),
      }));
    };
    socket.onclose = () => {
      const sockets = this.#sockets.get(room);
      sockets?.delete(socket);
      if (sockets?.size === 0) this.#sockets.delete(room);
    };
    socket.onmessage = (message) => void this.#onFrame(socket, source, message.data);
    return response;
  }

  async #onFrame(socket: WebSocket, source: SessionSource, data: unknown): Promise<void> {
    const reply = (frame: Record<string, unknown>) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    };
    let frame: { type?: unknown; text?: unknown; id?: unknown };
    try {
      if (typeof data !== "string" || data.length > MAX_WS_TEXT) {
        throw new Error("too long or binary");
      }
      frame = JSON.parse(data);
      if (frame === null || typeof frame !== "object") throw new Error("not an object");
    } catch (error) {
      reply({ type: "error", error: `Cannot read frame: ${(error as Error).message}` });
      return;
    }
    if (frame.type !== "message" || typeof frame.text !== "string" || !frame.text.trim()) {
      reply({ type: "error", error: 'Expected {"type":"message","text":"..."}' });
      return;
    }
    if (
      frame.id !== undefined && (typeof frame.id !== "string" || !/^[\w-]{1,64}$/.test(frame.id))
    ) {
      reply({ type: "error", error: "id must be 1-64 letters, digits, '-' or '_'" });
      return;
    }
    const clientId = (frame.id as string | undefined) ?? crypto.randomUUID();
    const event: MessageEvent = {
      messageId: source.chatType === "dm"
        ? `ws-${source.userId}-${clientId}`
        : `ws-${source.chatId}/${source.userId}-${clientId}`,
      source,
      text: frame.text,
      receivedAt: this.#context.now().toISOString(),
    };
    try {
      await this.#context.emit(event);
      this.#context.health.inbound(source.chatType === "dm" ? "dm" : "group");
      reply({ type: "accepted", id: clientId, message_id: event.messageId });
    } catch (error) {
      this.#context.log.error("local message not accepted", { error });
      reply({ type: "error", error: "The gateway could not store the message; try again" });
    }
  }
}

/** The WebSocket room of a chat: DMs and groups of the same name stay apart. */
function roomOf(chat: Pick<SessionSource, "chatType" | "chatId">): string {
  return `${chat.chatType}:${chat.chatId}`;
}

function only(request: Request, method: string, handle: () => Response | Promise<Response>) {
  if (request.method === method || (method === "GET" && request.method === "HEAD")) return handle();
  return new Response(
    JSON.stringify(apiError(405, `Method ${request.method} not allowed; use ${method}`).body),
    { status: 405, headers: { "content-type": "application/json", allow: method } },
  );
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** Reads a JSON body of at most `limit` bytes. */
async function readJsonBody(
  request: Request,
  limit: number,
): Promise<{ value: unknown } | ApiError> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  const tooLarge = apiError(
    413,
    `Request body too large: the limit is ${limit} bytes (local.max_body_bytes)`,
  );
  if (declared > limit) return tooLarge;
  if (!request.body) return apiError(400, "Invalid request: the body is empty; send a JSON object");
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > limit) return tooLarge;
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return { value: JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) };
  } catch (error) {
    return apiError(400, `Invalid JSON body: ${(error as Error).message}`);
  }
}

function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
