/**
 * The local platform: an HTTP server (default 127.0.0.1:8642) with a web
 * chat page (`GET /`, its WebSocket `GET /ws`), the OpenAI-compatible
 * `POST /v1/chat/completions` and `POST /v1/responses`, and `GET /healthz`.
 * A chat is a DM whose id is the user (`?user=` on the page, the `user`
 * field in the API), or on the WebSocket a group room shared by everyone
 * who joins it with `?group=`.
 *
 * Every request passes the {@linkcode RequestGuard} first (Host, Origin,
 * body type), then the API key when one is set.
 *
 * @module
 */

import { ConfigError } from "../../errors.ts";
import type { AdapterContext, Capabilities, PlatformAdapter } from "../adapter.ts";
import type { LocalSettings } from "./section.ts";
import type {
  Attachment,
  MessageEvent,
  OutboundMessage,
  SendResult,
  SessionSource,
} from "../event.ts";
import type { LinkHealth } from "../health.ts";
import { apiError, type ApiProtocol } from "./api_protocol.ts";
import { chatCompletions } from "./chat_completions.ts";
import { responsesApi } from "./responses.ts";
import { json, only, readJsonBody, timingSafeEqual } from "./_http.ts";
import { CHAT_PAGE, CHAT_PAGE_HEADERS, CHAT_SCRIPT, MARKDOWN_SCRIPT } from "./page.ts";
import { decodeDataUrl } from "./_data_url.ts";
import { isLoopback } from "./_loopback.ts";
import { portHolder } from "./_port_holder.ts";
import { ReplyWaiter } from "./reply_waiter.ts";
import { RequestGuard } from "./request_guard.ts";
import { ChatRooms } from "./rooms.ts";
import { upgradeWebChat } from "./web_chat_socket.ts";

/**
 * The local web chat and API.
 *
 * @example
 * ```ts
 * import type { AdapterContext } from "../adapter.ts";
 * import type { LocalSettings } from "./section.ts";
 * declare const context: AdapterContext<LocalSettings>; // what the gateway hands the adapter
 *
 * const adapter = new LocalAdapter(context);
 * await adapter.connect(); // listening on local.host:local.port
 * ```
 */
export class LocalAdapter implements PlatformAdapter {
  readonly name = "local";
  // Edits cost nothing here: no rate, so replies are shown at every delta.
  readonly capabilities: Capabilities = { streaming: "edit", maxMessageLength: 100_000 };
  readonly #context: AdapterContext<LocalSettings>;
  readonly #rooms = new ChatRooms();
  readonly #waiters = new Map<string, ReplyWaiter>();
  readonly #guard: RequestGuard;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;

  constructor(context: AdapterContext<LocalSettings>) {
    this.#context = context;
    const { host, allowed_hosts } = context.settings;
    this.#guard = new RequestGuard({ boundHost: host, allowedHosts: allowed_hosts });
  }

  /** The address the server listens on, once connected. */
  get address(): Deno.NetAddr | undefined {
    return this.#server?.addr;
  }

  async connect(): Promise<void> {
    const { host, port } = this.#context.settings;
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
      }, (request) => this.#handle(request));
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) {
        throw new Error(`Cannot listen on ${host}:${port}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      // A taken port is a setting to change, not a link to retry.
      const holder = await portHolder(host, port);
      throw new ConfigError(
        `Cannot listen on ${host}:${port}: the port is taken${
          holder ? ` by ${holder}` : ""
        }; set local.port (or LOCAL_PORT) to a free port, or stop what holds it`,
        { cause: error },
      );
    }
    await listening.promise;
    const addr = this.#server.addr;
    const url = `http://${
      addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
    }:${addr.port}/`;
    // The web chat's address is its credential: in a pool one gateway serves it at a time.
    await this.#context.credentialLock(LOCAL_LOCK_SCOPE, `${addr.hostname}:${addr.port}`);
    this.#context.health.detail("url", url);
    this.#context.health.set("subscribed");
    this.#context.log.info("web chat ready", { url });
  }

  async disconnect(_reason: string): Promise<void> {
    this.#rooms.closeAll(1001, "gateway stopping");
    // Replies still unfinished now are answered by the next gateway, not here:
    // the client gets an error, never a cut-off reply presented as complete.
    for (const waiter of this.#waiters.values()) waiter.fail(UNFINISHED);
    this.#waiters.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server) await server.shutdown();
    this.#context.health.set("stopped");
  }

  send(to: SessionSource, message: OutboundMessage): Promise<SendResult> {
    if (!message.final && !this.#watched(to, message.replyTo)) {
      // No web chat in the room and no streaming request: a preview would reach no one.
      return Promise.resolve({ status: "sent", messageId: "" });
    }
    const messageId = `r-${crypto.randomUUID()}`;
    this.#deliver(to, messageId, message);
    return Promise.resolve({ status: "sent", messageId });
  }

  edit(to: SessionSource, messageId: string, message: OutboundMessage): Promise<SendResult> {
    this.#deliver(to, messageId, message);
    return Promise.resolve({ status: "sent", messageId });
  }

  settled(event: MessageEvent, outcome: string): void {
    const waiter = this.#waiters.get(event.messageId);
    if (waiter) {
      this.#waiters.delete(event.messageId);
      waiter.end();
    }
    this.#rooms.settle(event.messageId);
    this.#rooms.broadcast(event.source, { type: "settled", reply_to: event.messageId, outcome });
  }

  health(): LinkHealth {
    return this.#context.health.snapshot();
  }

  /** Whether anyone sees a reply to `replyTo` in the chat of `to` as it grows. */
  #watched(to: SessionSource, replyTo: string | undefined): boolean {
    const waiter = replyTo === undefined ? undefined : this.#waiters.get(replyTo);
    return waiter?.streaming === true || this.#rooms.watched(to);
  }

  #deliver(to: SessionSource, messageId: string, message: OutboundMessage): void {
    if (message.replyTo) this.#waiters.get(message.replyTo)?.update(messageId, message.text);
    this.#rooms.reply(to, {
      id: messageId,
      replyTo: message.replyTo ?? null,
      to: to.userId ?? null,
      text: message.text,
      final: message.final,
    });
    this.#context.health.sendOk();
  }

  #handle(request: Request): Response | Promise<Response> {
    const refusal = this.#guard.check(request);
    const url = new URL(request.url);
    if (refusal) {
      this.#context.log.warn("local request refused", {
        reason: refusal.reason,
        method: request.method,
        path: url.pathname,
        host: request.headers.get("host"),
        origin: request.headers.get("origin"),
      });
      const type = refusal.status === 403 ? "permission_error" : "invalid_request_error";
      return json(refusal.status, apiError(refusal.status, refusal.reason, null, type).body);
    }
    if (url.pathname.startsWith("/media/")) {
      return only(request, "GET", () => this.#mediaFile(request, url));
    }
    switch (url.pathname) {
      case "/":
        return only(request, "GET", () => page(CHAT_PAGE, "text/html; charset=utf-8"));
      case "/chat.js":
        return only(request, "GET", () => page(CHAT_SCRIPT, "text/javascript; charset=utf-8"));
      case "/markdown-it.js":
        return only(request, "GET", () => page(MARKDOWN_SCRIPT, "text/javascript; charset=utf-8"));
      case "/favicon.ico":
        return new Response(null, { status: 204 });
      case "/healthz":
        return only(
          request,
          "GET",
          () => this.#keyRequiredOffLoopback(request) ?? json(200, this.#healthBody()),
        );
      case "/ws":
        return only(request, "GET", () =>
          upgradeWebChat(request, url, {
            context: this.#context,
            rooms: this.#rooms,
            authorize: (r, token) => this.#authorized(r, token),
          }));
      case "/v1/chat/completions":
        return only(request, "POST", () => this.#apiTurn(request, chatCompletions));
      case "/v1/responses":
        return only(request, "POST", () => this.#apiTurn(request, responsesApi));
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

  /**
   * `GET /media/<name>`: a file of the media cache (what the page shows in a
   * bubble). Images are shown inline; anything else is a download, and the
   * type is the sniffed one, so nothing a user sent renders as a page here.
   */
  async #mediaFile(request: Request, url: URL): Promise<Response> {
    const refused = this.#authorized(request, url.searchParams.get("token"));
    if (refused) return refused;
    const file = await this.#context.media.open(decodeURIComponent(url.pathname.slice(7)));
    if (!file) return json(404, apiError(404, `Not found: ${url.pathname}`).body);
    const inline = file.mime.startsWith("image/");
    return new Response(file.bytes as Uint8Array<ArrayBuffer>, {
      headers: {
        ...CHAT_PAGE_HEADERS,
        "content-type": file.mime,
        "content-disposition": inline ? "inline" : "attachment",
        "cache-control": "private, max-age=86400",
      },
    });
  }

  #healthBody(): Record<string, unknown> {
    const status = this.#context.gatewayStatus();
    return {
      status: "ok",
      service: "hermes",
      gateway: status.state,
      pid: status.pid,
      home: status.home,
      platforms: status.platforms,
    };
  }

  /** The 401 when an API key is required and missing or wrong; undefined when allowed. */
  #authorized(request: Request, token?: string | null): Response | undefined {
    const key = this.#context.settings.api_key;
    if (!key) return undefined;
    const given = token ?? request.headers.get("authorization")?.replace(/^Bearer\s+/i, "");
    if (given && timingSafeEqual(given, key)) return undefined;
    return json(
      401,
      apiError(401, "Missing or invalid API key: send Authorization: Bearer <LOCAL_API_KEY>").body,
    );
  }

  /** On loopback, health is for anyone on this machine; elsewhere only for key holders. */
  #keyRequiredOffLoopback(request: Request): Response | undefined {
    return isLoopback(this.#context.settings.host) ? undefined : this.#authorized(request);
  }

  #serving(): Response | undefined {
    const state = this.#context.gatewayStatus().state;
    if (state === "running") return undefined;
    return json(
      503,
      apiError(503, `The gateway is ${state}; retry in a few seconds`, null, "server_error").body,
      { "retry-after": "2" },
    );
  }

  /** An image of an API request, in the media cache: a data URL's bytes, or downloaded (guarded). */
  async #image(url: string): Promise<Attachment> {
    if (!url.startsWith("data:")) return await this.#context.media.download(url);
    return await this.#context.media.store(decodeDataUrl(url));
  }

  /** One API request answered as one inbound message, whole or streamed. */
  async #apiTurn(request: Request, protocol: ApiProtocol): Promise<Response> {
    const refused = this.#authorized(request) ?? this.#serving();
    if (refused) return refused;
    const body = await readJsonBody(request, this.#context.settings.max_body_bytes);
    if ("status" in body) return json(body.status, body.body);
    const parsed = protocol.parse(body.value);
    if ("status" in parsed) return json(parsed.status, parsed.body);
    let attachments: Attachment[];
    try {
      attachments = await Promise.all(parsed.images.map((url) => this.#image(url)));
    } catch (error) {
      return json(
        400,
        apiError(400, `Invalid image: ${(error as Error).message}`, "messages").body,
      );
    }

    const uuid = crypto.randomUUID();
    const messageId = `api-${uuid}`;
    const waiter = new ReplyWaiter({ streaming: parsed.stream });
    this.#waiters.set(messageId, waiter);
    const source: SessionSource = {
      platform: "local",
      chatType: "dm",
      chatId: parsed.user,
      userId: parsed.user,
    };
    const event: MessageEvent = {
      messageId,
      source,
      text: parsed.text,
      receivedAt: this.#context.now().toISOString(),
      ...(attachments.length ? { attachments } : {}),
    };
    try {
      await this.#context.emit(event);
    } catch (error) {
      this.#waiters.delete(messageId);
      throw error;
    }
    this.#context.health.inbound("dm");
    this.#rooms.broadcast(source, {
      type: "user_message",
      id: messageId,
      sender: parsed.user,
      text: parsed.text,
      at: event.receivedAt,
    });
    const id = `${protocol.idPrefix}${uuid.replaceAll("-", "")}`;
    if (!parsed.stream) {
      try {
        return json(200, protocol.whole(id, parsed, await waiter.done));
      } catch (error) {
        const message = (error as Error).message;
        return json(503, apiError(503, message, null, "server_error").body, { "retry-after": "5" });
      }
    }
    const writer = protocol.stream(id, parsed);
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
        write(writer.open());
        waiter.onDelta = (delta) => write(writer.delta(delta));
        const end = (events: string) => {
          write(events);
          try {
            controller.close();
          } catch {
            // already closed by the client
          }
        };
        waiter.done.then(
          (text) => end(writer.close(text)),
          (error: Error) => end(writer.fail(error.message)),
        );
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
}

/** The credential lock and lease scope of the web chat (its address is the identity). */
const LOCAL_LOCK_SCOPE = "local-web-chat";
const UNFINISHED = "The gateway stopped before the reply was finished; send the request again";

/** A static part of the web chat, with its security headers. */
function page(body: string, contentType: string): Response {
  return new Response(body, { headers: { "content-type": contentType, ...CHAT_PAGE_HEADERS } });
}
