/**
 * The Telegram webhook listener: Telegram POSTs one update per request to
 * the path of `telegram.webhook_url`. A request without the secret
 * (`X-Telegram-Bot-Api-Secret-Token`) is answered 401 and read no further;
 * an update is answered 200 only once it is journaled, so a crash before
 * that makes Telegram deliver it again (and the journal drops a repeat).
 *
 * @module
 */

import type { Logger } from "../../util/log.ts";
import type { TgUpdate } from "./inbound.ts";

/** The most an update's body may weigh (Telegram's are far smaller). */
const MAX_BODY_BYTES = 1024 * 1024;

/** What a {@linkcode WebhookListener} needs. */
export interface WebhookOptions {
  readonly hostname: string;
  readonly port: number;
  /** The path updates are POSTed to (the path of the webhook URL). */
  readonly path: string;
  readonly secret: string;
  readonly log: Logger;
  /** Takes one update; resolves once it is journaled (or skipped). */
  readonly onUpdate: (update: TgUpdate) => Promise<void>;
}

/**
 * Listens for Telegram's webhook POSTs.
 *
 * @example
 * ```ts
 * import type { Logger } from "../../util/log.ts";
 * declare const log: Logger;
 *
 * const listener = WebhookListener.listen({
 *   hostname: "0.0.0.0",
 *   port: 8443,
 *   path: "/telegram",
 *   secret: "a-long-random-secret",
 *   log,
 *   onUpdate: async (update) => console.log(update.update_id), // journal it here
 * });
 * await listener.close();
 * ```
 */
export class WebhookListener {
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #received: { at: number };

  private constructor(server: Deno.HttpServer<Deno.NetAddr>, received: { at: number }) {
    this.#server = server;
    this.#received = received;
  }

  /** When (ms) the last update with the right secret came; 0 for never. */
  get lastReceivedAt(): number {
    return this.#received.at;
  }

  /** Starts listening; throws when the address cannot be bound. */
  static listen(options: WebhookOptions): WebhookListener {
    const received = { at: 0 };
    const server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen: () => {},
    }, (request) => handle(request, options, received));
    return new WebhookListener(server, received);
  }

  /** The port it listens on (the one given, or the one picked for port 0). */
  get port(): number {
    return this.#server.addr.port;
  }

  /** Stops listening once the updates being journaled are answered. */
  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}

async function handle(
  request: Request,
  options: WebhookOptions,
  received: { at: number },
): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (pathname !== options.path) return new Response("Not Found", { status: 404 });
  if (request.method !== "POST") {
    return new Response("Method Not Allowed", { status: 405, headers: { allow: "POST" } });
  }
  if (!sameSecret(request.headers.get("x-telegram-bot-api-secret-token") ?? "", options.secret)) {
    await request.body?.cancel();
    options.log.warn("A webhook request without the right secret was refused");
    return new Response("Unauthorized", { status: 401 });
  }
  received.at = Date.now();
  let update: TgUpdate;
  try {
    const body = await readLimited(request, MAX_BODY_BYTES);
    update = JSON.parse(body);
    if (typeof update?.update_id !== "number") throw new Error("no update_id");
  } catch (error) {
    // Telegram would only send it again: a malformed update is logged and let go.
    options.log.warn("A malformed webhook update was skipped", { error: String(error) });
    return new Response("OK", { status: 200 });
  }
  try {
    await options.onUpdate(update);
  } catch (error) {
    options.log.error("A webhook update could not be journaled; Telegram sends it again", {
      update_id: update.update_id,
      error,
    });
    return new Response("Service Unavailable", { status: 503 });
  }
  return new Response("OK", { status: 200 });
}

/** Compares in time independent of where the strings differ. */
function sameSecret(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i] ?? 0) ^ b[i]!;
  return difference === 0;
}

async function readLimited(request: Request, limit: number): Promise<string> {
  const reader = request.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw new Error(`the body is over ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(bytes);
}
