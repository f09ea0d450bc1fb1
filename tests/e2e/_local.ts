/**
 * Helpers for end-to-end tests of the local platform: a real gateway
 * subprocess on a free port, its URL, and a WebSocket client that keeps
 * every frame.
 *
 * @module
 */

import { hermesPaths } from "../../lib/config/home.ts";
import { readRuntimeStatus } from "../../lib/process/runtime_status.ts";
import { type BackgroundHermes, startGateway, waitFor } from "../gateway/_gateway.ts";

/** A running gateway and the base URL of its local platform. */
export interface LocalGateway extends AsyncDisposable {
  readonly gateway: BackgroundHermes;
  /** e.g. `http://127.0.0.1:40123/`. */
  readonly url: string;
}

/** Starts `hermes gateway run` in `home` and waits for the web chat URL. */
export function startLocalGateway(
  home: string,
  env: Record<string, string> = {},
): Promise<LocalGateway> {
  return startLocalGatewayWith(home, () => startGateway(home, env));
}

/** Starts a gateway with `start` (the CLI from source, the bundle, ...) and waits for the web chat URL. */
export async function startLocalGatewayWith(
  home: string,
  start: () => BackgroundHermes | Promise<BackgroundHermes>,
): Promise<LocalGateway> {
  const gateway = await start();
  let url = "";
  let exited: number | undefined;
  gateway.exited.then((code) => exited = code);
  await waitFor("the local platform's URL", () => {
    if (exited !== undefined) {
      throw new Error(`the gateway exited ${exited} before serving: ${gateway.stderr()}`);
    }
    const status = readRuntimeStatus(hermesPaths(home).runtimeStatus);
    const local = status?.platforms?.local as { details?: { url?: string } } | undefined;
    url = status?.gateway_state === "running" ? local?.details?.url ?? "" : "";
    return url !== "";
  }, 60_000);
  return { gateway, url, [Symbol.asyncDispose]: () => gateway[Symbol.asyncDispose]() };
}

/** A WebSocket client of `/ws` that records every frame. */
export class ChatClient implements AsyncDisposable {
  readonly frames: Record<string, unknown>[] = [];
  readonly #socket: WebSocket;
  readonly #opened: Promise<void>;
  readonly #closed: Promise<void>;

  constructor(url: string, user: string, group?: string) {
    const ws = new URL("ws", url);
    ws.protocol = "ws:";
    ws.searchParams.set("user", user);
    if (group !== undefined) ws.searchParams.set("group", group);
    this.#socket = new WebSocket(ws);
    this.#opened = new Promise((resolve, reject) => {
      this.#socket.onopen = () => resolve();
      this.#socket.onerror = () => reject(new Error(`cannot connect to ${ws}`));
    });
    this.#closed = new Promise((resolve) =>
      this.#socket.addEventListener("close", () => resolve())
    );
    this.#socket.onmessage = (e) => this.frames.push(JSON.parse(e.data));
  }

  /** Resolves once the server said `ready`. */
  async ready(): Promise<Record<string, unknown>> {
    await this.#opened;
    await waitFor("the ready frame", () => this.frames.some((f) => f.type === "ready"));
    return this.frames.find((f) => f.type === "ready")!;
  }

  /** Sends a raw frame. */
  sendRaw(data: string): void {
    this.#socket.send(data);
  }

  /** Sends a chat message with a client id. */
  say(id: string, text: string): void {
    this.sendRaw(JSON.stringify({ type: "message", id, text }));
  }

  /**
   * Sends `text` and returns the final text of the reply, or undefined when
   * the message settled without one.
   */
  async ask(id: string, text: string): Promise<string | undefined> {
    this.say(id, text);
    const accepted = await this.until(
      `${id} accepted`,
      (f) => f.type === "accepted" && f.id === id,
    );
    const messageId = accepted.message_id;
    await this.until(`${id} settled`, (f) => f.type === "settled" && f.reply_to === messageId);
    const reply = this.frames.findLast((f) =>
      f.type === "message" && f.reply_to === messageId && f.final === true
    );
    return reply?.text as string | undefined;
  }

  /** Waits until some frame matches. */
  async until(what: string, match: (f: Record<string, unknown>) => boolean, timeoutMs = 20_000) {
    await waitFor(what, () => this.frames.some(match), timeoutMs);
    return this.frames.find(match)!;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#socket.readyState <= WebSocket.OPEN) this.#socket.close();
    await this.#closed;
  }
}
