/**
 * A simulator of the Weixin iLink bot API and its CDN on 127.0.0.1, written
 * from `shared/protocols/weixin-ilink.md` (sections 3.1–3.9), not from any
 * client. It speaks HTTP/1.1 itself on raw TCP (one request per connection,
 * `connection: close`) so it can also fail the way real links fail: a
 * connection closed without an answer. It holds getupdates long-polls,
 * checks the headers and `base_info` of every POST, encrypts and decrypts
 * CDN files with AES-128-ECB, and plays a scripted QR login. A second
 * listener, {@linkcode IlinkServer.redirectUrl}, stands in for the host of
 * a `scaned_but_redirect`. Every request is recorded, so tests can assert
 * on exactly what the client sent.
 *
 * Where the protocol file is silent, these are our assumptions:
 * - a wrong or missing token answers `{"ret":-14,"errmsg":"session expired"}`;
 * - a request the protocol calls malformed (a header, `base_info`, a payload
 *   field, bad JSON) answers HTTP 400 with one line naming it;
 * - sendmessage is idempotent by client_id: a repeat answers ret 0 and is
 *   recorded in {@linkcode IlinkServer.sent} once;
 * - a context_token that is not the peer's current one answers ret −14; a
 *   message without one is accepted;
 * - a media item must name a file the CDN holds (an `x-encrypted-param` or a
 *   served media), with an aes_key that decodes to that file's key;
 * - get_qrcode_status answers at once (no hold); an unknown qrcode answers
 *   `expired`.
 * - CDN parameters are opaque strings with "+", "/" and "=" in them, so a
 *   client that does not URL-encode them is refused;
 * - the redirect host speaks plain http (the reference polls `https://<host>`).
 *
 * @module
 */

import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { concat, readRequest } from "./_raw_http.ts";

/** Options of {@linkcode IlinkServer.start}. */
export interface IlinkServerOptions {
  /** The bot token POSTs must carry; default "tok-1". */
  token?: string;
  /** The bot's account id, the default to_user_id of inbound messages; default "bot-1@im.bot". */
  accountId?: string;
  /** Port of the API listener; default 0 (a free port). */
  port?: number;
  /** How long getupdates holds an empty poll, default 35_000 ms; tests pass e.g. 300. */
  longPollMs?: number;
  /** Messages per getupdates answer, default 20. */
  batchSize?: number;
  /**
   * Whether a repeated client_id is recorded once (default true: our
   * assumption of iLink; false shows every resend as a second message).
   */
  dedupClientIds?: boolean;
}

/**
 * How a call is answered instead of normally: an API error (HTTP 200 with
 * these fields), an HTTP status (body default `simulated HTTP <status>`; a
 * `{http: 200}` on upload is a 200 without `x-encrypted-param`), a delay
 * before the normal answer, or a connection closed without an answer.
 */
export type Fault =
  | { ret: number; errcode?: number; errmsg?: string }
  | { http: number; body?: string }
  | { delayMs: number }
  | { drop: true /* close the connection without an answer */ };

/**
 * The API errors of 3.4 and 3.7 as {@linkcode Fault}s. The wording of the
 * rate-limit −2 ("rate limit") is our assumption; a client can only tell it
 * from the stale −2s by not being "unknown error" or "prepare failed".
 */
export const Faults = {
  sessionExpired: { ret: -14, errmsg: "session expired" },
  unknownError: { ret: -2, errmsg: "unknown error" },
  prepareFailed: { ret: -2, errmsg: "prepare failed" },
  rateLimit: { ret: -2, errmsg: "rate limit" },
} as const satisfies Record<string, Fault>;

/** An inbound message for {@linkcode IlinkServer.inbound}. */
export interface InboundMessage {
  /** Default "u-1@im.wechat"; "" makes a message without a sender. */
  from?: string;
  /** Default the account id. */
  to?: string;
  roomId?: string;
  text?: string;
  /** Raw item_list instead of text. */
  items?: unknown[];
  /** Default 1. */
  msgType?: number;
  /** Default "msg-<seq>". */
  messageId?: string;
  /** Default: the peer's current token, created once per peer as "ctx-<peer>-<n>". Given, it becomes the current one. */
  contextToken?: string;
  refMsg?: unknown;
}

/** One HTTP request the simulator received. */
export interface RequestRecord {
  method: string;
  /** The URL path, e.g. "/ilink/bot/getupdates". */
  path: string;
  /** The last path segment, e.g. "getupdates" or "upload". */
  endpoint: string;
  query: URLSearchParams;
  headers: Headers;
  /** The parsed JSON, else the raw bytes; undefined without a body. */
  body: unknown;
  raw: Uint8Array;
  /** Arrival time (Date.now). */
  at: number;
  /** The status it answered; undefined while pending or when dropped. */
  status?: number;
  /** Set when the request came to {@linkcode IlinkServer.redirectUrl}. */
  via?: "redirect";
}

/** A sendmessage call that was accepted. */
export interface SentMessage {
  msg: Record<string, unknown>;
  /** The text items joined with "\n". */
  text: string;
  contextToken?: string;
  clientId: string;
  at: number;
}

/** A file served on the CDN by {@linkcode IlinkServer.media}. */
export interface ServedMedia {
  /** The media object of an inbound item. */
  media: { encrypt_query_param: string; aes_key: string; encrypt_type: 1; full_url?: string };
  key: Uint8Array;
  /** The key as 32 hex chars (what `image_item.aeskey` carries). */
  hexKey: string;
  /** Plaintext bytes. */
  size: number;
  /** Ciphertext bytes (an image's `mid_size`). */
  cipherSize: number;
}

/** A file the client uploaded, decrypted. */
export interface UploadedFile {
  filekey: string;
  bytes: Uint8Array;
  mediaType: number;
  toUserId: string;
  rawsize: number;
  rawfilemd5: string;
  method: string;
  /** The `x-encrypted-param` answered: what the item's encrypt_query_param must be. */
  encryptQueryParam: string;
}

/** One answer of get_qrcode_status in {@linkcode IlinkServer.qrScript}. */
export type QrStep =
  | { status: "wait" | "scaned" | "expired" }
  | { status: "scaned_but_redirect"; redirectHost: string }
  | { status: "confirmed"; botId?: string; botToken?: string; baseUrl?: string; userId?: string }
  | { fault: Fault };

interface Answer {
  status: number;
  body: Uint8Array | string;
  type?: string;
  headers?: Record<string, string>;
}

/** An answer, or "drop": close the connection without one. */
type Outcome = Answer | "drop";

interface CdnFile {
  ciphertext: Uint8Array;
  key: Uint8Array;
}

interface PendingUpload {
  filekey: string;
  key: Uint8Array;
  mediaType: number;
  toUserId: string;
  rawsize: number;
  rawfilemd5: string;
  downloadParam?: string;
}

const API_ENDPOINTS = new Set([
  "getupdates",
  "sendmessage",
  "sendtyping",
  "getconfig",
  "getuploadurl",
]);
const QR_ENDPOINTS = new Set(["get_bot_qrcode", "get_qrcode_status"]);
const ITEM_KINDS: Record<number, string> = {
  1: "text",
  2: "image",
  3: "voice",
  4: "file",
  5: "video",
};
const HEX32 = /^[0-9a-f]{32}$/i;
const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

/**
 * The simulator. Start it, point the client's base URL at
 * {@linkcode url} and its CDN at {@linkcode cdnUrl}, drive it with the
 * control methods and assert on {@linkcode requests} and {@linkcode sent}.
 *
 * @example
 * ```ts
 * await using ilink = await IlinkServer.start({ longPollMs: 300 });
 * ilink.inbound({ from: "u-1@im.wechat", text: "hi" });
 * // ... the client polls ilink.url and answers ...
 * const [reply] = await ilink.waitForSent(1);
 * console.log(reply?.text);
 * ```
 */
export class IlinkServer implements AsyncDisposable {
  /** API base, "http://127.0.0.1:PORT" (endpoints under /ilink/bot/...). */
  readonly url: string;
  /** CDN base, `${url}/c2c`. */
  readonly cdnUrl: string;
  /** Base of the second listener, the host a `scaned_but_redirect` names. */
  readonly redirectUrl: string;
  /** "127.0.0.1:PORT" of {@linkcode redirectUrl}: what a test passes as redirectHost. */
  readonly redirectHost: string;
  readonly token: string;
  readonly accountId: string;
  /** Every HTTP request received, in order (API, CDN and QR alike). */
  readonly requests: RequestRecord[] = [];
  /** sendmessage calls that were accepted (ret 0), with their msg object. */
  readonly sent: SentMessage[] = [];

  readonly #listeners: Deno.TcpListener[];
  readonly #longPollMs: number;
  readonly #batchSize: number;
  readonly #abort = new AbortController();
  readonly #conns = new Set<Deno.Conn>();
  readonly #inFlight = new Map<string, number>();
  readonly #peakInFlight = new Map<string, number>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #watchers = new Set<() => void>();
  readonly #tokens: Set<string>;
  readonly #inbox: { seq: number; msg: Record<string, unknown> }[] = [];
  readonly #contexts = new Map<string, string>();
  readonly #contextGen = new Map<string, number>();
  readonly #clientIds = new Set<string>();
  readonly #dedupClientIds: boolean;
  readonly #tickets = new Map<string, string>();
  readonly #once = new Map<string, { fault: Fault; count: number }[]>();
  readonly #always = new Map<string, Fault>();
  readonly #cdn = new Map<string, CdnFile>();
  readonly #pendingUploads = new Map<string, PendingUpload>();
  readonly #uploaded = new Map<string, UploadedFile>();
  readonly #qrcodes = new Map<string, "live" | "expired">();
  #script: QrStep[] = [{ status: "wait" }];
  #scriptAt = 0;
  #seq = 0;
  #counter = 0;
  #uploadFullUrl = false;
  #closing: Promise<void> | undefined;

  private constructor(listeners: Deno.TcpListener[], options: IlinkServerOptions) {
    this.#listeners = listeners;
    this.url = `http://127.0.0.1:${listeners[0]!.addr.port}`;
    this.cdnUrl = `${this.url}/c2c`;
    this.redirectHost = `127.0.0.1:${listeners[1]!.addr.port}`;
    this.redirectUrl = `http://${this.redirectHost}`;
    this.token = options.token ?? "tok-1";
    this.accountId = options.accountId ?? "bot-1@im.bot";
    this.#tokens = new Set([this.token]);
    this.#longPollMs = options.longPollMs ?? 35_000;
    this.#batchSize = options.batchSize ?? 20;
    this.#dedupClientIds = options.dedupClientIds ?? true;
  }

  /**
   * Listens on 127.0.0.1: the API and CDN (a free port unless `port` is
   * given) and the redirect host (a free port).
   *
   * @example
   * ```ts
   * await using ilink = await IlinkServer.start({ token: "tok-1", longPollMs: 300 });
   * console.log(ilink.url); // http://127.0.0.1:40123
   * ```
   */
  static start(options: IlinkServerOptions = {}): Promise<IlinkServer> {
    const main = Deno.listen({ hostname: "127.0.0.1", port: options.port ?? 0 });
    const redirect = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const server = new IlinkServer([main, redirect], options);
    server.#track(server.#accept(main));
    server.#track(server.#accept(redirect, "redirect"));
    return Promise.resolve(server);
  }

  // ---- driving -------------------------------------------------------------

  /** Queues an inbound message for the next getupdates; returns the ids it got. */
  inbound(message: InboundMessage): { messageId: string; contextToken: string; seq: number } {
    const from = message.from ?? "u-1@im.wechat";
    const seq = ++this.#seq;
    const messageId = message.messageId ?? `msg-${seq}`;
    const contextToken = message.contextToken ?? this.#contexts.get(from) ??
      this.rotateContextToken(from);
    this.#contexts.set(from, contextToken);
    if (message.roomId !== undefined) this.#contexts.set(message.roomId, contextToken);
    this.#inbox.push({
      seq,
      msg: {
        message_id: messageId,
        from_user_id: from,
        to_user_id: message.to ?? this.accountId,
        msg_type: message.msgType ?? 1,
        context_token: contextToken,
        item_list: message.items ?? [{ type: 1, text_item: { text: message.text ?? "" } }],
        create_time_ms: Date.now(),
        ...(message.roomId === undefined ? {} : { room_id: message.roomId }),
        ...(message.refMsg === undefined ? {} : { ref_msg: message.refMsg }),
      },
    });
    this.#notify();
    return { messageId, contextToken, seq };
  }

  /**
   * Gives `peer` a new current context token ("ctx-<peer>-<n+1>") and
   * returns it: the token the client holds goes stale (sendmessage ret −14).
   */
  rotateContextToken(peer: string): string {
    const n = (this.#contextGen.get(peer) ?? 0) + 1;
    this.#contextGen.set(peer, n);
    const token = `ctx-${peer}-${n}`;
    this.#contexts.set(peer, token);
    return token;
  }

  /** The current context token of a peer (a user, or a room that had a message), if any. */
  contextToken(peer: string): string | undefined {
    return this.#contexts.get(peer);
  }

  /**
   * Answers the next `count` calls of `endpoint` with the fault instead of
   * normally. Faults apply to well-formed calls with a valid token: a call
   * answered 400, 404, 405 or "session expired" does not use one.
   */
  failNext(endpoint: string, fault: Fault, count = 1): void {
    const list = this.#once.get(endpoint) ?? [];
    list.push({ fault, count });
    this.#once.set(endpoint, list);
  }

  /** Makes every call of `endpoint` answer the fault (a storm) until cleared with `null`. */
  failAlways(endpoint: string, fault: Fault | null): void {
    if (fault) this.#always.set(endpoint, fault);
    else this.#always.delete(endpoint);
  }

  /** Makes typing tickets issued so far unknown, as when they expire: sendtyping answers ret −14. */
  expireTypingTickets(): void {
    this.#tickets.clear();
  }

  /** From now on getuploadurl also answers `upload_full_url` (or stops, with false). */
  offerUploadFullUrl(on = true): void {
    this.#uploadFullUrl = on;
  }

  /**
   * Serves `bytes` AES-128-ECB encrypted on the CDN under a random key;
   * returns the media object for an inbound item. `keyEncoding` "hex"
   * (default) gives aes_key as base64 of the 32 hex chars, "raw" as base64 of
   * the 16 bytes. `viaFullUrl` leaves encrypt_query_param empty and sets
   * `full_url`: this server's download URL, or the same path on
   * `http://<fullUrlHost>` (e.g. "169.254.169.254", for the SSRF guard).
   */
  media(
    bytes: Uint8Array,
    options: { keyEncoding?: "hex" | "raw"; viaFullUrl?: boolean; fullUrlHost?: string } = {},
  ): ServedMedia {
    const key = crypto.getRandomValues(new Uint8Array(16));
    const hexKey = toHex(key);
    const ciphertext = aesEncrypt(key, bytes);
    const param = this.#param("dl");
    this.#cdn.set(param, { ciphertext, key });
    const aesKey = options.keyEncoding === "raw" ? toBase64(key) : btoa(hexKey);
    const path = `/c2c/download?encrypted_query_param=${encodeURIComponent(param)}`;
    const media: ServedMedia["media"] = options.viaFullUrl
      ? {
        encrypt_query_param: "",
        aes_key: aesKey,
        encrypt_type: 1,
        full_url: options.fullUrlHost ? `http://${options.fullUrlHost}${path}` : this.url + path,
      }
      : { encrypt_query_param: param, aes_key: aesKey, encrypt_type: 1 };
    return { media, key, hexKey, size: bytes.length, cipherSize: ciphertext.length };
  }

  /** Files uploaded to the CDN, decrypted with the aeskey given to getuploadurl (one per filekey). */
  uploaded(): UploadedFile[] {
    return [...this.#uploaded.values()];
  }

  /**
   * The QR login script: the statuses get_qrcode_status answers, in order,
   * one per poll of a live qrcode (the last repeats). A qrcode that was
   * answered `expired` keeps answering it without using a step. A `fault`
   * step answers the fault; a delay fault then answers the next step.
   */
  qrScript(steps: QrStep[]): void {
    if (steps.length === 0) throw new Error("Cannot set the QR script: it has no steps");
    this.#script = [...steps];
    this.#scriptAt = 0;
  }

  // ---- observing -----------------------------------------------------------

  /** The most requests of `endpoint` the simulator was answering at one time. */
  peakInFlight(endpoint: string): number {
    return this.#peakInFlight.get(endpoint) ?? 0;
  }

  /** Requests to `endpoint` ("sendmessage", "getupdates", "download", "upload", "get_qrcode_status", ...). */
  requestsTo(endpoint: string): RequestRecord[] {
    return this.requests.filter((r) => r.endpoint === endpoint);
  }

  /** Waits until `count` messages were accepted; resolves with the first `count`. */
  async waitForSent(count: number, timeoutMs = 5000): Promise<SentMessage[]> {
    const hit = await this.#watch(
      () => this.sent.length >= count ? this.sent.slice(0, count) : undefined,
      timeoutMs,
    );
    if (hit) return hit;
    throw new Error(
      `Timed out after ${timeoutMs} ms waiting for ${count} sent messages: ${this.sent.length} so far`,
    );
  }

  /** Waits until `endpoint` got `count` requests; resolves with the first `count`. */
  async waitForRequests(
    endpoint: string,
    count: number,
    timeoutMs = 5000,
  ): Promise<RequestRecord[]> {
    const probe = () => {
      const list = this.requestsTo(endpoint);
      return list.length >= count ? list.slice(0, count) : undefined;
    };
    const hit = await this.#watch(probe, timeoutMs);
    if (hit) return hit;
    throw new Error(
      `Timed out after ${timeoutMs} ms waiting for ${count} requests to "${endpoint}": ` +
        `${this.requestsTo(endpoint).length} so far`,
    );
  }

  // ---- lifecycle -----------------------------------------------------------

  /** Stops both listeners and closes every connection, held polls included (they get no answer). */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    this.#abort.abort();
    for (const listener of this.#listeners) closeQuietly(listener);
    for (const conn of this.#conns) closeQuietly(conn);
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  // ---- HTTP ----------------------------------------------------------------

  async #accept(listener: Deno.TcpListener, via?: "redirect"): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      conn.setNoDelay(true);
      this.#conns.add(conn);
      this.#track(this.#serve(conn, via));
    }
  }

  async #serve(conn: Deno.Conn, via?: "redirect"): Promise<void> {
    try {
      const incoming = await readRequest(conn);
      if (!incoming) return;
      const url = new URL(incoming.target, "http://127.0.0.1");
      const record: RequestRecord = {
        method: incoming.method,
        path: url.pathname,
        endpoint: url.pathname.split("/").at(-1) ?? "",
        query: url.searchParams,
        headers: incoming.headers,
        body: parseBody(incoming.raw, incoming.headers),
        raw: incoming.raw,
        at: Date.now(),
        ...(via ? { via } : {}),
      };
      this.requests.push(record);
      this.#notify();
      const open = (this.#inFlight.get(record.endpoint) ?? 0) + 1;
      this.#inFlight.set(record.endpoint, open);
      this.#peakInFlight.set(record.endpoint, Math.max(open, this.peakInFlight(record.endpoint)));
      let outcome: Outcome | "drop";
      try {
        outcome = await this.#route(record);
      } finally {
        this.#inFlight.set(record.endpoint, (this.#inFlight.get(record.endpoint) ?? 1) - 1);
      }
      if (outcome === "drop" || this.#abort.signal.aborted) return;
      record.status = outcome.status;
      await writeResponse(conn, outcome);
    } catch {
      // the client went away, or the server is closing
    } finally {
      this.#conns.delete(conn);
      closeQuietly(conn);
    }
  }

  async #route(r: RequestRecord): Promise<Outcome> {
    const kind = r.path === `/ilink/bot/${r.endpoint}`
      ? API_ENDPOINTS.has(r.endpoint) ? "api" : QR_ENDPOINTS.has(r.endpoint) ? "qr" : undefined
      : r.path === "/c2c/download" || r.path === "/c2c/upload"
      ? "cdn"
      : undefined;
    if (!kind) return text(404, `Unknown path ${r.path}`);
    const method = kind === "api" || r.endpoint === "upload" ? "POST" : "GET";
    if (r.method !== method) {
      return text(405, `${r.endpoint} takes ${method}, not ${r.method}`, { allow: method });
    }
    const invalid = kind === "api"
      ? checkPost(r)
      : kind === "qr"
      ? firstInvalid((name) => r.headers.get(name), APP_HEADERS, "header ")
      : undefined;
    if (invalid) return text(400, invalid);
    if (kind === "api") {
      const auth = r.headers.get("authorization") ?? "";
      if (!auth.startsWith("Bearer ") || !this.#tokens.has(auth.slice(7))) {
        return json(Faults.sessionExpired);
      }
    }
    const fault = this.#takeFault(r.endpoint);
    if (fault) {
      const answer = await this.#fault(fault);
      if (answer) return answer;
    }
    const body = (r.body ?? {}) as Record<string, unknown>;
    switch (r.endpoint) {
      case "getupdates":
        return await this.#getUpdates(body);
      case "sendmessage":
        return this.#sendMessage(body);
      case "getconfig":
        return this.#getConfig(body);
      case "sendtyping":
        return this.#sendTyping(body);
      case "getuploadurl":
        return this.#getUploadUrl(body);
      case "upload":
        return this.#cdnUpload(r);
      case "download": {
        const file = this.#cdn.get(r.query.get("encrypted_query_param") ?? "");
        return file
          ? { status: 200, body: file.ciphertext, type: "application/octet-stream" }
          : text(404, `Unknown encrypted_query_param "${r.query.get("encrypted_query_param")}"`);
      }
      case "get_bot_qrcode":
        return this.#getQrcode(r);
      default:
        return await this.#qrStatus(r);
    }
  }

  // ---- endpoints -----------------------------------------------------------

  async #getUpdates(body: Record<string, unknown>): Promise<Outcome> {
    const cursor = body.get_updates_buf ?? "";
    if (typeof cursor !== "string") return text(400, "Invalid field get_updates_buf: not a string");
    let after = decodeCursor(cursor);
    // An empty or unknown cursor starts from the oldest message kept (all are kept).
    if (after === undefined || after > this.#seq) after = 0;
    const from = after;
    const batch = await this.#watch(() => {
      const msgs = this.#inbox.filter((m) => m.seq > from).slice(0, this.#batchSize);
      return msgs.length > 0 ? msgs : undefined;
    }, this.#longPollMs) ?? [];
    if (this.#abort.signal.aborted) return "drop";
    return json({
      ret: 0,
      msgs: batch.map((m) => m.msg),
      get_updates_buf: encodeCursor(batch.at(-1)?.seq ?? after),
      longpolling_timeout_ms: this.#longPollMs,
    });
  }

  #sendMessage(body: Record<string, unknown>): Outcome {
    const msg = body.msg;
    if (!isRecord(msg)) return text(400, "Invalid field msg: must be an object");
    const invalid = firstInvalid((name) => msg[name], [
      ["to_user_id", isText, "a non-empty string"],
      ["client_id", isText, "a non-empty string"],
      ["message_type", is(2), "2 (bot)"],
      ["message_state", is(2), "2 (finish)"],
      ["item_list", (v) => Array.isArray(v) && v.length > 0, "a non-empty array"],
    ], "field msg.") ?? this.#checkItems(msg.item_list as unknown[]);
    if (invalid) return text(400, invalid);
    const clientId = msg.client_id as string;
    if (this.#dedupClientIds && this.#clientIds.has(clientId)) return json({ ret: 0 });
    const token = msg.context_token;
    const to = msg.to_user_id as string;
    if (token !== undefined && token !== null && token !== this.#contexts.get(to)) {
      return json(Faults.sessionExpired);
    }
    this.#clientIds.add(clientId);
    const texts = (msg.item_list as Record<string, unknown>[])
      .flatMap((item) =>
        item.type === 1 ? [String((item.text_item as { text: string }).text)] : []
      );
    this.sent.push({
      msg,
      text: texts.join("\n"),
      ...(typeof token === "string" ? { contextToken: token } : {}),
      clientId,
      at: Date.now(),
    });
    this.#notify();
    return json({ ret: 0 });
  }

  /** Why an item_list cannot be delivered, or undefined. */
  #checkItems(items: unknown[]): string | undefined {
    for (const [i, item] of items.entries()) {
      const at = `msg.item_list[${i}]`;
      if (!isRecord(item)) return `Invalid field ${at}: not an object`;
      const kind = ITEM_KINDS[item.type as number];
      if (!kind) return `Invalid field ${at}.type: must be 1 to 5`;
      const inner = item[`${kind}_item`];
      if (!isRecord(inner)) return `Invalid field ${at}.${kind}_item: not an object`;
      if (kind === "text") {
        if (typeof inner.text !== "string" || inner.text.trim() === "") {
          return `Invalid field ${at}.text_item.text: must be non-empty text`;
        }
        continue;
      }
      const media = inner.media;
      const where = `${at}.${kind}_item.media`;
      if (!isRecord(media)) return `Invalid field ${where}: not an object`;
      const file = this.#cdn.get(String(media.encrypt_query_param));
      if (!file) {
        return `Invalid field ${where}.encrypt_query_param: the CDN holds no file ` +
          `"${media.encrypt_query_param}" (use the upload's x-encrypted-param)`;
      }
      const key = typeof media.aes_key === "string" ? decodeAesKey(media.aes_key) : undefined;
      if (!key || toHex(key) !== toHex(file.key)) {
        return `Invalid field ${where}.aes_key: does not decode to the file's key`;
      }
      if (media.encrypt_type !== 1) return `Invalid field ${where}.encrypt_type: must be 1`;
    }
    return undefined;
  }

  #getConfig(body: Record<string, unknown>): Outcome {
    const invalid = firstInvalid((name) => body[name], [
      ["ilink_user_id", isText, "a non-empty string"],
    ], "field ");
    if (invalid) return text(400, invalid);
    const ticket = `tt-${++this.#counter}`;
    this.#tickets.set(ticket, body.ilink_user_id as string);
    return json({ ret: 0, typing_ticket: ticket });
  }

  #sendTyping(body: Record<string, unknown>): Outcome {
    const invalid = firstInvalid((name) => body[name], [
      ["ilink_user_id", isText, "a non-empty string"],
      ["typing_ticket", isText, "a non-empty string"],
      ["status", (v) => v === 1 || v === 2, "1 (start) or 2 (stop)"],
    ], "field ");
    if (invalid) return text(400, invalid);
    const owner = this.#tickets.get(body.typing_ticket as string);
    return json(owner === body.ilink_user_id ? { ret: 0 } : Faults.sessionExpired);
  }

  #getUploadUrl(body: Record<string, unknown>): Outcome {
    const { filekey, media_type: mediaType, rawsize, rawfilemd5, aeskey } = body;
    const invalid = firstInvalid((name) => body[name], [
      ["filekey", isHex32, "32 hex chars"],
      [
        "media_type",
        (v) => [1, 2, 3, 4].includes(v as number),
        "1, 2, 3 or 4 (image, video, file, voice)",
      ],
      ["to_user_id", isText, "a non-empty string"],
      ["rawsize", (v) => Number.isInteger(v) && (v as number) >= 0, "a non-negative integer"],
      ["rawfilemd5", isHex32, "32 hex chars"],
      ["filesize", is(Math.floor(((rawsize as number) + 16) / 16) * 16), "((rawsize+16)//16)*16"],
      ["aeskey", isHex32, "32 hex chars (the 16-byte key)"],
    ], "field ");
    if (invalid) return text(400, invalid);
    const param = this.#param("up");
    this.#pendingUploads.set(param, {
      filekey: filekey as string,
      key: fromHex(aeskey as string),
      mediaType: mediaType as number,
      toUserId: body.to_user_id as string,
      rawsize: rawsize as number,
      rawfilemd5: (rawfilemd5 as string).toLowerCase(),
    });
    const fullUrl = `${this.cdnUrl}/upload?encrypted_query_param=${encodeURIComponent(param)}` +
      `&filekey=${encodeURIComponent(filekey as string)}`;
    return json({
      ret: 0,
      upload_param: param,
      ...(this.#uploadFullUrl ? { upload_full_url: fullUrl } : {}),
    });
  }

  #cdnUpload(r: RequestRecord): Outcome {
    const type = r.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (type !== "application/octet-stream") {
      return text(
        400,
        `Invalid header Content-Type "${type ?? ""}": must be application/octet-stream`,
      );
    }
    const param = r.query.get("encrypted_query_param") ?? "";
    const pending = this.#pendingUploads.get(param);
    if (!pending) {
      return text(400, `Unknown encrypted_query_param "${param}": not from getuploadurl`);
    }
    if (r.query.get("filekey") !== pending.filekey) {
      return text(
        400,
        `Invalid query filekey "${r.query.get("filekey")}": getuploadurl had another`,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = aesDecrypt(pending.key, r.raw);
    } catch {
      return text(400, `Cannot decrypt ${r.raw.length} bytes: not AES-128-ECB/PKCS#7 under aeskey`);
    }
    if (bytes.length !== pending.rawsize) {
      return text(
        400,
        `Size mismatch: decrypted ${bytes.length} bytes, rawsize ${pending.rawsize}`,
      );
    }
    const md5 = createHash("md5").update(bytes).digest("hex");
    if (md5 !== pending.rawfilemd5) {
      return text(400, `MD5 mismatch: decrypted ${md5}, rawfilemd5 ${pending.rawfilemd5}`);
    }
    pending.downloadParam ??= this.#param("dl");
    this.#cdn.set(pending.downloadParam, { ciphertext: r.raw, key: pending.key });
    this.#uploaded.set(pending.filekey, {
      filekey: pending.filekey,
      bytes,
      mediaType: pending.mediaType,
      toUserId: pending.toUserId,
      rawsize: pending.rawsize,
      rawfilemd5: pending.rawfilemd5,
      method: r.method,
      encryptQueryParam: pending.downloadParam,
    });
    this.#notify();
    return { status: 200, body: "", headers: { "x-encrypted-param": pending.downloadParam } };
  }

  #getQrcode(r: RequestRecord): Outcome {
    if (!r.query.get("bot_type")) return text(400, "Missing query bot_type");
    const qrcode = `qr-${++this.#counter}`;
    this.#qrcodes.set(qrcode, "live");
    return json({
      qrcode,
      qrcode_img_content: `https://liteapp.weixin.qq.com/q/${qrcode}?qrcode=${qrcode}&bot_type=${
        r.query.get("bot_type")
      }`,
    });
  }

  async #qrStatus(r: RequestRecord): Promise<Outcome> {
    const qrcode = r.query.get("qrcode") ?? "";
    if (this.#qrcodes.get(qrcode) !== "live") return json({ status: "expired" });
    for (;;) {
      const last = this.#scriptAt >= this.#script.length - 1;
      const step = this.#script[Math.min(this.#scriptAt++, this.#script.length - 1)]!;
      if ("fault" in step) {
        const answer = await this.#fault(step.fault);
        if (answer) return answer;
        if (last) return json({ status: "wait" });
        continue;
      }
      switch (step.status) {
        case "expired":
          this.#qrcodes.set(qrcode, "expired");
          return json({ status: "expired" });
        case "scaned_but_redirect":
          return json({ status: step.status, redirect_host: step.redirectHost });
        case "confirmed": {
          const token = step.botToken ?? this.token;
          this.#tokens.add(token);
          return json({
            status: "confirmed",
            bot_token: token,
            ilink_bot_id: step.botId ?? this.accountId,
            baseurl: step.baseUrl ?? this.url,
            ilink_user_id: step.userId ?? "u-1@im.wechat",
          });
        }
        default:
          return json({ status: step.status });
      }
    }
  }

  // ---- plumbing ------------------------------------------------------------

  #takeFault(endpoint: string): Fault | undefined {
    const next = this.#once.get(endpoint)?.[0];
    if (next) {
      if (--next.count <= 0) this.#once.get(endpoint)?.shift();
      return next.fault;
    }
    return this.#always.get(endpoint);
  }

  /** The fault's answer; undefined after a delay, when the call goes on normally. */
  async #fault(fault: Fault): Promise<Outcome | undefined> {
    if ("drop" in fault) return "drop";
    if ("http" in fault) return text(fault.http, fault.body ?? `simulated HTTP ${fault.http}`);
    if ("delayMs" in fault) {
      await this.#watch(() => undefined, fault.delayMs);
      return this.#abort.signal.aborted ? "drop" : undefined;
    }
    return json({
      ret: fault.ret,
      ...(fault.errcode === undefined ? {} : { errcode: fault.errcode }),
      ...(fault.errmsg === undefined ? {} : { errmsg: fault.errmsg }),
    });
  }

  /** An opaque CDN parameter with "+", "/" and "=" in it, so a client must URL-encode it. */
  #param(kind: string): string {
    return `${kind}+${toBase64(crypto.getRandomValues(new Uint8Array(18)))}/${++this.#counter}==`;
  }

  /** Resolves with probe()'s first value, or undefined after `ms` or when the server closes. */
  #watch<T>(probe: () => T | undefined, ms: number): Promise<T | undefined> {
    const hit = probe();
    const signal = this.#abort.signal;
    if (hit !== undefined || signal.aborted) return Promise.resolve(hit);
    return new Promise((resolve) => {
      const done = (value: T | undefined) => {
        clearTimeout(timer);
        this.#watchers.delete(check);
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      };
      const check = () => {
        const value = probe();
        if (value !== undefined) done(value);
      };
      const onAbort = () => done(undefined);
      const timer = setTimeout(onAbort, Math.max(0, ms));
      this.#watchers.add(check);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #notify(): void {
    for (const check of [...this.#watchers]) check();
  }

  #track(task: Promise<void>): void {
    const tracked: Promise<void> = task.catch(() => {}).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }
}

/** `{type: 2, image_item: {media, aeskey?, mid_size}}` for a served media; `aeskey` is raw hex (e.g. `served.hexKey`). */
export function imageItem(served: ServedMedia, options: { aeskey?: string } = {}) {
  return {
    type: 2,
    image_item: {
      media: served.media,
      ...(options.aeskey === undefined ? {} : { aeskey: options.aeskey }),
      mid_size: served.cipherSize,
    },
  };
}

/** `{type: 4, file_item: {media, file_name, len}}` for a served media (`len` is the plaintext size as a string). */
export function fileItem(served: ServedMedia, name: string) {
  return { type: 4, file_item: { media: served.media, file_name: name, len: String(served.size) } };
}

// ---- validation --------------------------------------------------------------

/** [name, test, what it must be]: one check of {@linkcode firstInvalid}. */
type Rule = [string, (value: unknown) => boolean, string];

const isText = (value: unknown) => typeof value === "string" && value !== "";
const isHex32 = (value: unknown) => typeof value === "string" && HEX32.test(value);
const is = (expected: unknown) => (value: unknown) => value === expected;
const APP_HEADERS: Rule[] = [
  ["iLink-App-Id", is("bot"), '"bot"'],
  ["iLink-App-ClientVersion", is("131584"), '"131584"'],
];

/** A one-line message naming the first value (a header, a field) that breaks its rule. */
function firstInvalid(get: (name: string) => unknown, rules: Rule[], what: string) {
  for (const [name, ok, expected] of rules) {
    const value = get(name);
    if (ok(value)) continue;
    return value === undefined || value === null
      ? `Missing ${what}${name}: must be ${expected}`
      : `Invalid ${what}${name} ${JSON.stringify(value).slice(0, 80)}: must be ${expected}`;
  }
  return undefined;
}

/** Why a POST's framing (3.2) is wrong: a header, the JSON or base_info; undefined when right. */
function checkPost(r: RequestRecord): string | undefined {
  const header = firstInvalid((name) => r.headers.get(name), [
    [
      "Content-Type",
      (v) => String(v).split(";")[0]!.trim() === "application/json",
      "application/json",
    ],
    ["Content-Length", (v) => /^\d+$/.test(String(v)), "a byte count"],
    ["AuthorizationType", is("ilink_bot_token"), '"ilink_bot_token"'],
    ["X-WECHAT-UIN", isUin, "base64 of a decimal uint32"],
    ...APP_HEADERS,
  ], "header ");
  if (header) return header;
  if (!isRecord(r.body)) {
    return r.body instanceof Uint8Array || r.body === undefined
      ? "Malformed JSON body"
      : "Invalid JSON body: must be an object";
  }
  const baseInfo = r.body.base_info;
  if (!isRecord(baseInfo) || baseInfo.channel_version !== "2.2.0") {
    return 'Missing base_info: must be {"channel_version":"2.2.0"}';
  }
  return undefined;
}

function isUin(value: unknown): boolean {
  try {
    const decimal = atob(String(value));
    return btoa(decimal) === value && /^\d{1,10}$/.test(decimal) && Number(decimal) <= 0xffffffff;
  } catch {
    return false;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

// ---- encoding ----------------------------------------------------------------

function encodeCursor(seq: number): string {
  return btoa(JSON.stringify({ seq }));
}

function decodeCursor(cursor: string): number | undefined {
  try {
    const { seq } = JSON.parse(atob(cursor));
    return Number.isInteger(seq) && seq >= 0 ? seq : undefined;
  } catch {
    return undefined;
  }
}

/** The key an aes_key names (3.6): base64 of 16 raw bytes or of 32 hex chars. */
function decodeAesKey(aesKey: string): Uint8Array | undefined {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(aesKey), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
  if (bytes.length === 16) return bytes;
  const ascii = new TextDecoder().decode(bytes);
  return HEX32.test(ascii) ? fromHex(ascii) : undefined;
}

function aesEncrypt(key: Uint8Array, plain: Uint8Array): Uint8Array {
  const cipher = createCipheriv("aes-128-ecb", key, null);
  return concat([cipher.update(plain), cipher.final()]);
}

/** Decrypts and strips PKCS#7; throws on a length or padding that is not well-formed. */
function aesDecrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  const decipher = createDecipheriv("aes-128-ecb", key, null);
  return concat([decipher.update(data), decipher.final()]);
}

/** The JSON a body holds, else its bytes (always the bytes of an octet-stream). */
function parseBody(raw: Uint8Array, headers: Headers): unknown {
  if (raw.length === 0) return undefined;
  if (headers.get("content-type")?.startsWith("application/octet-stream")) return raw;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    return raw;
  }
}

function json(value: unknown): Answer {
  return { status: 200, body: JSON.stringify(value), type: "application/json" };
}

function text(status: number, body: string, headers?: Record<string, string>): Answer {
  return { status, body, type: "text/plain; charset=utf-8", headers };
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed
  }
}

// ---- wire ----------------------------------------------------------------------

async function writeResponse(conn: Deno.Conn, answer: Answer): Promise<void> {
  const body = typeof answer.body === "string"
    ? new TextEncoder().encode(answer.body)
    : answer.body;
  const head: Record<string, string> = {
    "content-type": answer.type ?? "application/octet-stream",
    "content-length": String(body.length),
    connection: "close",
    ...answer.headers,
  };
  const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  const status = `HTTP/1.1 ${answer.status} ${REASONS[answer.status] ?? "Status"}\r\n`;
  const bytes = concat([new TextEncoder().encode(`${status}${lines}\r\n`), body]);
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}
