/**
 * The WeCom AI Bot long connection on the wire: JSON frames
 * `{cmd, headers: {req_id}, body}` over a WebSocket, requests correlated
 * with their acks by `req_id`, and typed errors carrying the errcode. Every
 * request goes through {@linkcode WecomSocket.request}, so timeouts, errors
 * and counting wrap one function. Nothing here knows about messages or
 * sessions; that is the adapter's.
 *
 * @module
 */

import { PlatformError } from "../../errors.ts";
import { type WecomAction, wecomError } from "./errors.ts";

/** One frame, as far as its envelope goes; `body` is left to the reader. */
export interface WecomFrame {
  readonly cmd?: string;
  readonly headers: { readonly req_id?: string };
  /** Set on acks; 0 or absent is success. */
  readonly errcode?: number;
  readonly errmsg?: string;
  readonly body?: Record<string, unknown>;
}

/** Commands the server sends on its own (not acks). */
export const CALLBACK_COMMANDS: ReadonlySet<string> = new Set([
  "aibot_msg_callback",
  "aibot_callback",
  "aibot_event_callback",
]);

/**
 * A fresh local req_id: `<prefix>-<32 hex>`.
 *
 * @example
 * ```ts
 * newReqId("ping"); // "ping-3f2a…"
 * ```
 */
export function newReqId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().replaceAll("-", "")}`;
}

/**
 * Reads one frame; undefined for anything that is not a JSON object with a
 * sane envelope (the caller logs and skips it). Fields of the wrong type are
 * dropped rather than trusted.
 *
 * @example
 * ```ts
 * parseFrame('{"headers":{"req_id":"X"},"errcode":0}')?.headers.req_id; // "X"
 * parseFrame("not json"); // undefined
 * ```
 */
export function parseFrame(data: string): WecomFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const headers = isObject(value.headers) ? value.headers : {};
  const reqId = typeof headers.req_id === "string" && headers.req_id !== ""
    ? headers.req_id
    : undefined;
  const errcode = typeof value.errcode === "number"
    ? value.errcode
    : typeof value.errcode === "string" && /^-?\d+$/.test(value.errcode)
    ? Number(value.errcode)
    : undefined;
  return {
    cmd: typeof value.cmd === "string" ? value.cmd : undefined,
    headers: reqId === undefined ? {} : { req_id: reqId },
    errcode,
    errmsg: typeof value.errmsg === "string" ? value.errmsg : undefined,
    body: isObject(value.body) ? value.body : undefined,
  };
}

/** Whether `value` is a plain JSON object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A request the server answered with a nonzero errcode. */
export class WecomRequestError extends PlatformError {
  readonly errcode: number;
  /** What the error table says to do. */
  readonly action: WecomAction;
  readonly cmd: string;

  constructor(cmd: string, errcode: number, errmsg: string | undefined) {
    const info = wecomError(errcode);
    super(`WeCom errcode ${errcode}: ${errmsg || "unknown error"} (${cmd}; ${info.meaning})`, {
      platform: "wecom",
      code: errcode,
      retryable: info.action === "retry" || info.action === "resubscribe",
    });
    this.name = "WecomRequestError";
    this.errcode = errcode;
    this.action = info.action;
    this.cmd = cmd;
  }
}

/** The link cannot carry a request now (closed, interrupted, no answer in time). */
export class WecomLinkError extends PlatformError {
  constructor(message: string, code: "not_connected" | "interrupted" | "timeout") {
    super(message, { platform: "wecom", code, retryable: true });
    this.name = "WecomLinkError";
  }
}

/** What {@linkcode WecomSocket.open} needs. */
export interface WecomSocketOptions {
  /** How long the WebSocket handshake may take (default 20 s). */
  readonly connectTimeoutMs?: number;
  /** Frames that are not acks of our requests: callbacks, events, anything else. */
  readonly onFrame: (frame: WecomFrame) => void;
  /** Text that is not a frame (logged and skipped by the caller). */
  readonly onMalformed?: (data: string) => void;
  /** The link ended; called once. `byPeer`: the server closed it or the network failed (not us). */
  readonly onClose?: (reason: string, byPeer: boolean) => void;
}

interface Pending {
  readonly cmd: string;
  readonly resolve: (frame: WecomFrame) => void;
  readonly reject: (error: Error) => void;
}

/**
 * One open long connection.
 *
 * @example
 * ```ts
 * const socket = await WecomSocket.open("wss://openws.work.weixin.qq.com", {
 *   onFrame: (frame) => console.log(frame.cmd), // callbacks and events
 * });
 * await socket.request(
 *   "aibot_subscribe",
 *   { bot_id: "bot-1", secret: "bot-secret", device_id: "9f1c0d2e4b6a48c7a1e3f5b7d9c2e4a6" },
 *   { prefix: "subscribe" },
 * );
 * ```
 */
export class WecomSocket {
  readonly #ws: WebSocket;
  readonly #options: WecomSocketOptions;
  readonly #pending = new Map<string, Pending>();
  /** Requests waiting for an earlier one with the same req_id (replies on one inbound req_id). */
  readonly #queues = new Map<string, Promise<unknown>>();
  #closed: string | undefined;

  private constructor(ws: WebSocket, options: WecomSocketOptions) {
    this.#ws = ws;
    this.#options = options;
    ws.onmessage = (message) => this.#receive(message.data);
    ws.onclose = (event) => this.#ended(`closed by the server (code ${event.code})`, true);
    ws.onerror = () => this.#ended("the connection failed", true);
  }

  /** Opens the WebSocket; rejects when the handshake fails or takes too long. */
  static open(url: string, options: WecomSocketOptions): Promise<WecomSocket> {
    const timeoutMs = options.connectTimeoutMs ?? 20_000;
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(url);
      } catch (error) {
        return reject(new WecomLinkError(`Cannot open ${url}: ${message(error)}`, "not_connected"));
      }
      const timer = setTimeout(() => {
        ws.onopen = ws.onerror = ws.onclose = null;
        abandon(ws);
        reject(
          new WecomLinkError(
            `No WebSocket handshake with ${url} within ${timeoutMs / 1000} s`,
            "timeout",
          ),
        );
      }, timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(new WecomSocket(ws, options));
      };
      const refused = (event: Event) => {
        clearTimeout(timer);
        ws.onopen = ws.onerror = ws.onclose = null;
        const why = event instanceof ErrorEvent && event.message ? event.message : "refused";
        reject(new WecomLinkError(`Cannot open ${url}: ${why}`, "not_connected"));
      };
      ws.onerror = refused;
      ws.onclose = refused;
    });
  }

  /** Whether the link is open (as far as this side knows). */
  get open(): boolean {
    return this.#closed === undefined;
  }

  /**
   * Sends `{cmd, headers: {req_id}, body}` and resolves with the ack, or
   * rejects: `WecomRequestError` (nonzero errcode), `WecomLinkError` (closed,
   * interrupted, no ack within `timeoutMs`). A `reqId` (an inbound message's,
   * for replies) may be given; requests on the same req_id go one at a time.
   */
  request(
    cmd: string,
    body: Record<string, unknown>,
    options: { reqId?: string; prefix?: string; timeoutMs?: number } = {},
  ): Promise<WecomFrame> {
    const reqId = options.reqId ?? newReqId(options.prefix ?? cmd);
    const before = this.#queues.get(reqId) ?? Promise.resolve();
    const run = before.catch(() => {}).then(() =>
      this.#request(cmd, body, reqId, options.timeoutMs, options.reqId !== undefined)
    );
    const tail = run.catch(() => {});
    this.#queues.set(reqId, tail);
    void tail.then(() => {
      if (this.#queues.get(reqId) === tail) this.#queues.delete(reqId);
    });
    return run;
  }

  /** Closes the link (pending requests fail); safe to call more than once. */
  close(reason = "closed by hermes"): void {
    if (this.#closed !== undefined) return;
    this.#ended(reason);
    abandon(this.#ws);
  }

  #request(
    cmd: string,
    body: Record<string, unknown>,
    reqId: string,
    timeoutMs = 10_000,
    shared = false,
  ): Promise<WecomFrame> {
    if (this.#closed !== undefined) {
      return Promise.reject(
        new WecomLinkError("WeCom websocket is not connected", "not_connected"),
      );
    }
    return new Promise<WecomFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(reqId);
        reject(
          new WecomLinkError(`WeCom did not answer ${cmd} within ${timeoutMs / 1000} s`, "timeout"),
        );
        // Its ack may still come, and would be taken for the next request on this req_id:
        // a socket that lost track of its acks is given up.
        if (shared) this.close(`no answer to ${cmd} on ${reqId} in time`);
      }, timeoutMs);
      const settle = <T>(finish: (value: T) => void) => (value: T) => {
        clearTimeout(timer);
        this.#pending.delete(reqId);
        finish(value);
      };
      this.#pending.set(reqId, { cmd, resolve: settle(resolve), reject: settle(reject) });
      try {
        this.#ws.send(JSON.stringify({ cmd, headers: { req_id: reqId }, body }));
      } catch (error) {
        this.#pending.get(reqId)?.reject(
          new WecomLinkError(`Cannot send ${cmd}: ${message(error)}`, "not_connected"),
        );
      }
    });
  }

  #receive(data: unknown): void {
    if (this.#closed !== undefined) return;
    const text = typeof data === "string"
      ? data
      : data instanceof ArrayBuffer
      ? new TextDecoder().decode(data)
      : undefined;
    const frame = text === undefined ? undefined : parseFrame(text);
    if (!frame) return this.#options.onMalformed?.(text ?? "(binary frame)");
    const reqId = frame.headers.req_id;
    const pending = reqId === undefined ? undefined : this.#pending.get(reqId);
    if (pending && !(frame.cmd && CALLBACK_COMMANDS.has(frame.cmd))) {
      if (frame.errcode) {
        pending.reject(new WecomRequestError(pending.cmd, frame.errcode, frame.errmsg));
      } else pending.resolve(frame);
      return;
    }
    this.#options.onFrame(frame);
  }

  #ended(reason: string, byPeer = false): void {
    if (this.#closed !== undefined) return;
    this.#closed = reason;
    this.#ws.onmessage = this.#ws.onclose = this.#ws.onerror = null;
    for (const pending of this.#pending.values()) {
      pending.reject(new WecomLinkError(`WeCom connection interrupted: ${reason}`, "interrupted"));
    }
    this.#pending.clear();
    this.#options.onClose?.(reason, byPeer);
  }
}

/** Closes a WebSocket whatever its state, without waiting for the peer. */
function abandon(ws: WebSocket): void {
  try {
    ws.close();
  } catch {
    // already closed or never opened
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
