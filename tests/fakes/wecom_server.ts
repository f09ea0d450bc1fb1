/**
 * A simulator of the WeCom AI Bot long-connection server on 127.0.0.1,
 * written from `shared/protocols/wecom-aibot.md` (sections 1 and 4), not
 * from any client. It speaks WebSocket itself on raw TCP so it can fail the
 * way real links fail: a close without a close frame, a half-open link that
 * reads but never answers, a dropped subscription on a live socket, a
 * takeover by another client, and the zombie session that eats group
 * messages when a client reconnects with a new device_id. The same port
 * serves media downloads over plain HTTP. Every frame it receives is
 * recorded, so tests can assert on exactly what the client sent.
 *
 * @module
 */

import { createCipheriv, createHash } from "node:crypto";
import {
  acceptUpgrade,
  concatBytes,
  connectClient,
  Opcode,
  readHttpHead,
  respondText,
  utf8,
  writeAll,
  writeChunk,
  writeHttpHead,
  WsPeer,
} from "./_wecom_ws.ts";

/** Options of {@linkcode WecomServer.start}. */
export interface WecomServerOptions {
  /** bot_id → secret; default `{"bot-1": "secret-1"}`. */
  bots?: Record<string, string>;
  /** Chat ids known as groups before any group callback names them. */
  groups?: string[];
  /** How long an inbound req_id may be answered; default 24 h. */
  replyWindowMs?: number;
  /** How long one stream id may be refreshed; default 10 min. */
  streamWindowMs?: number;
  /** Answer pings from the start; default true. */
  pingAcks?: boolean;
  /** How long a close handshake may take before TCP is closed anyway; default 1000 ms. */
  closeTimeoutMs?: number;
  /** Clock for record times, reply windows and create_time; default `Date.now`. */
  now?: () => number;
  /** Port to listen on; default 0 (a free port). */
  port?: number;
}

/** A frame as JSON: a request, an ack, a callback or an event. */
export interface WecomFrame {
  cmd?: string;
  headers?: { req_id?: string; [name: string]: unknown };
  body?: Record<string, unknown>;
  errcode?: number;
  errmsg?: string;
  [field: string]: unknown;
}

/** One data message the server received. */
export interface FrameRecord {
  /** Arrival time, ms on the server's clock. */
  at: number;
  /** Connection id (1, 2, ...). */
  conn: number;
  /** The message text (binary messages decoded as UTF-8). */
  raw: string;
  /** The parsed message when it is a JSON object. */
  frame?: WecomFrame;
  /** Arrived on a half-open connection: read, never answered. */
  lost?: true;
  /** Arrived as a binary message (recorded, never answered). */
  binary?: true;
  /** Sent by the simulator's own {@linkcode WecomServer.takeover} client. */
  internal?: true;
}

/** One control frame the server received. */
export interface ControlRecord {
  at: number;
  conn: number;
  kind: "ping" | "pong" | "close";
  payload: Uint8Array;
  /** Close code, when a close frame carried one. */
  code?: number;
  lost?: true;
}

/** One message the server wrote. */
export interface SentRecord {
  at: number;
  conn: number;
  /** The JSON frame, for frames the simulator built. */
  frame?: WecomFrame;
  /** What {@linkcode WecomServer.sendRaw} wrote. */
  raw?: string | Uint8Array;
}

/** A registered session as {@linkcode WecomServer.sessions} reports it. */
export interface SessionInfo {
  conn: number;
  deviceId: string;
  /** open; half-open (the server believes it alive); closed (its socket is gone, still registered). */
  state: "open" | "half-open" | "closed";
  subscribed: boolean;
  /** Callbacks waiting on this session. */
  queued: number;
}

/** An inbound message for {@linkcode WecomServer.callback}. */
export interface CallbackMessage {
  chatType: "group" | "dm";
  /** The group's chatid (default "group-1"); in DMs only sent when given. */
  chatId?: string;
  userId: string;
  /** Default "text". */
  msgtype?: string;
  /** Content of a text, voice or mixed message. */
  text?: string;
  /** More body fields, merged last (image, file, appmsg, quote, ...). */
  body?: Record<string, unknown>;
  msgid?: string;
  /** Default "aibot_msg_callback". */
  cmd?: "aibot_msg_callback" | "aibot_callback";
}

/** Where a callback or event went. */
export interface CallbackResult {
  reqId: string;
  msgid: string;
  /** The chosen session's connection; null when the bot has no session. */
  routedTo: number | null;
  /** Held on the session (or the bot) instead of being written. */
  queued: boolean;
}

/**
 * How {@linkcode WecomServer.drop} ends a link: `close` (close frame, then
 * TCP close), `reset` (TCP close, no close frame) or `half-open` (socket
 * stays open, nothing is answered or written, the session stays registered).
 */
export type DropMode = "close" | "reset" | "half-open";

/** Options of {@linkcode WecomServer.media}. */
export interface MediaOptions {
  /** AES-256-CBC with a random key, WeCom style (1.12). */
  encrypt?: boolean;
  /** Give aeskey without its "=" padding, as WeCom sometimes does. */
  unpaddedKey?: boolean;
  /** Sent as the Content-Disposition filename. */
  filename?: string;
  /** Default application/octet-stream. */
  contentType?: string;
  /** Wait before answering. */
  delayMs?: number;
  /** Wait between 64 KiB chunks of the body. */
  chunkDelayMs?: number;
  /** Append zero bytes until the body has this many bytes (an oversized answer). */
  padTo?: number;
  /** Claim this Content-Length (the body sent stays the real one). */
  declaredLength?: number;
  /** Send without Content-Length (chunked), so only counting bytes can catch a size. */
  chunked?: boolean;
}

/** A served media file. */
export interface ServedMedia {
  /** `http://127.0.0.1:PORT/media/<id>`. */
  url: string;
  /** Standard base64 of the 32-byte key, when encrypted. */
  aeskey?: string;
}

/** A file the client uploaded. */
export interface UploadedMedia {
  bytes: Uint8Array;
  type: string;
  filename: string;
  botId: string;
}

/** The simulator's own second client, from {@linkcode WecomServer.takeover}. */
export interface TakeoverHandle {
  deviceId: string;
  /** Its connection id on the server. */
  conn: number;
  /** The subscribe ack's errcode and errmsg. */
  errcode: number;
  errmsg: string;
  /** Frames it received after the ack. */
  received: WecomFrame[];
  close(): Promise<void>;
}

interface Conn {
  id: number;
  peer: WsPeer;
  state: "open" | "half-open" | "closed";
  session?: Session;
  internal: boolean;
  remotePort: number;
}

interface Session {
  botId: string;
  deviceId: string;
  conn: Conn;
  subscribed: boolean;
  queue: WecomFrame[];
  /** Subscribe order: lower is older. */
  order: number;
}

interface Bot {
  secret: string;
  sessions: Map<string, Session>;
  /** Callbacks for a bot without sessions, for the next subscriber. */
  queue: WecomFrame[];
  /** Issued callback req_ids. */
  reqIds: Map<string, { at: number; group: boolean }>;
  /** First use of each `reqId/streamId`. */
  streams: Map<string, number>;
  subscribes: { conn: number; deviceId: string }[];
}

interface Upload {
  botId: string;
  type: string;
  filename: string;
  totalSize: number;
  totalChunks: number;
  md5: string;
  chunks: Map<number, Uint8Array>;
}

interface Served extends MediaOptions {
  body: Uint8Array;
}

interface Waiter {
  check(): void;
  fail(error: Error): void;
}

interface Result {
  errcode: number;
  errmsg: string;
  body?: Record<string, unknown>;
}

const OK: Result = { errcode: 0, errmsg: "ok" };
const MIB = 1024 * 1024;
/** Upload size limits by media type (1.11). */
const UPLOAD_LIMITS: Record<string, number> = {
  image: 10 * MIB,
  video: 10 * MIB,
  voice: 2 * MIB,
  file: 20 * MIB,
};
const MAX_CHUNKS = 100;
const MAX_CONTENT_BYTES = 20480;
const MEDIA_MSGTYPES = new Set(["image", "file", "voice", "video"]);

/**
 * The simulator. Start it, point the client at {@linkcode url}, drive it
 * with the control methods and assert on {@linkcode frames}.
 *
 * @example
 * ```ts
 * await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
 * // ... the client subscribes to wecom.url ...
 * await wecom.waitForSubscribe("bot-1", 1);
 * wecom.callback("bot-1", { chatType: "group", chatId: "g1", userId: "zs", text: "@Bot hi" });
 * await wecom.waitForFrame((f) => f.frame?.cmd === "aibot_respond_msg");
 * ```
 */
export class WecomServer implements AsyncDisposable {
  /** `ws://127.0.0.1:PORT`. */
  readonly url: string;
  /** `http://127.0.0.1:PORT`. */
  readonly httpUrl: string;
  /** The listening port. */
  readonly port: number;
  /** Every data message received, in arrival order. */
  readonly frames: FrameRecord[] = [];
  /** Every control frame received. */
  readonly controlFrames: ControlRecord[] = [];
  /** Every message written. */
  readonly sent: SentRecord[] = [];
  /** Protocol violations by clients (the connection was closed with 1002 or 1009). */
  readonly protocolErrors: { at: number; conn: number; message: string }[] = [];
  /** Paths of every plain HTTP request, in order. */
  readonly mediaRequests: string[] = [];
  /** Every plain HTTP request with its headers. */
  readonly httpRequests: {
    at: number;
    method: string;
    path: string;
    headers: Record<string, string>;
  }[] = [];

  readonly #listener: Deno.TcpListener;
  readonly #now: () => number;
  readonly #replyWindowMs: number;
  readonly #streamWindowMs: number;
  readonly #closeTimeoutMs: number;
  readonly #bots = new Map<string, Bot>();
  readonly #groups: Set<string>;
  readonly #conns = new Map<number, Conn>();
  readonly #httpSockets = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #waiters = new Set<Waiter>();
  readonly #failures = new Map<string, { errcode: number; errmsg?: string; count: number }[]>();
  readonly #uploads = new Map<string, Upload>();
  readonly #media = new Map<string, UploadedMedia>();
  readonly #served = new Map<string, Served>();
  readonly #takeovers = new Set<TakeoverHandle>();
  readonly #internalPorts = new Set<number>();
  readonly #abort = new AbortController();
  #pingAcks: boolean;
  #connSeq = 0;
  #order = 0;
  #dropTimer: ReturnType<typeof setInterval> | undefined;
  #accepting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(listener: Deno.TcpListener, options: WecomServerOptions) {
    this.#listener = listener;
    this.port = listener.addr.port;
    this.url = `ws://127.0.0.1:${this.port}`;
    this.httpUrl = `http://127.0.0.1:${this.port}`;
    this.#now = options.now ?? Date.now;
    this.#replyWindowMs = options.replyWindowMs ?? 24 * 3600_000;
    this.#streamWindowMs = options.streamWindowMs ?? 10 * 60_000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 1000;
    this.#pingAcks = options.pingAcks ?? true;
    this.#groups = new Set(options.groups ?? []);
    for (const [botId, secret] of Object.entries(options.bots ?? { "bot-1": "secret-1" })) {
      this.#bots.set(botId, {
        secret,
        sessions: new Map(),
        queue: [],
        reqIds: new Map(),
        streams: new Map(),
        subscribes: [],
      });
    }
  }

  /**
   * Listens on 127.0.0.1 (a free port unless `port` is given).
   *
   * @example
   * ```ts
   * await using wecom = await WecomServer.start();
   * console.log(wecom.url); // ws://127.0.0.1:40123
   * ```
   */
  static start(options: WecomServerOptions = {}): Promise<WecomServer> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: options.port ?? 0 });
    const server = new WecomServer(listener, options);
    server.#accepting = server.#acceptLoop();
    return Promise.resolve(server);
  }

  // ---- observing -----------------------------------------------------------

  /** Received frames whose `cmd` is `cmd`. */
  framesOf(cmd: string): FrameRecord[] {
    return this.frames.filter((record) => record.frame?.cmd === cmd);
  }

  /**
   * The first received frame matching `predicate`, from index `since` on,
   * waiting for it if needed; rejects after `timeoutMs`.
   */
  waitForFrame(
    predicate: (record: FrameRecord) => boolean,
    timeoutMs = 5000,
    since = 0,
  ): Promise<FrameRecord> {
    return this.#wait(
      () => this.frames.slice(since).find(predicate),
      timeoutMs,
      () => {
        const seen = this.frames.slice(since).map((r) =>
          r.frame?.cmd ?? JSON.stringify(r.raw.slice(0, 40))
        );
        return `Timed out after ${timeoutMs} ms waiting for a frame matching ${
          predicate.toString().slice(0, 200)
        }: ${seen.length} frames since index ${since} (${seen.slice(-10).join(", ") || "none"})`;
      },
    );
  }

  /** Successful subscribes of a bot so far. */
  subscribes(botId: string): number {
    return this.#bot(botId).subscribes.length;
  }

  /** Waits for the bot's `n`th successful subscribe; resolves with its connection and device_id. */
  waitForSubscribe(
    botId: string,
    n = 1,
    timeoutMs = 5000,
  ): Promise<{ conn: number; deviceId: string }> {
    const bot = this.#bot(botId);
    return this.#wait(
      () => bot.subscribes[n - 1],
      timeoutMs,
      () =>
        `Timed out after ${timeoutMs} ms waiting for subscribe ${n} of "${botId}": ` +
        `${bot.subscribes.length} so far`,
    );
  }

  /** The bot's registered sessions, oldest first. */
  sessions(botId: string): SessionInfo[] {
    return [...this.#bot(botId).sessions.values()]
      .sort((a, b) => a.order - b.order)
      .map((s) => ({
        conn: s.conn.id,
        deviceId: s.deviceId,
        state: s.conn.state,
        subscribed: s.subscribed,
        queued: s.queue.length,
      }));
  }

  /** Open TCP sockets accepted by the server (WebSocket and HTTP). */
  connections(): number {
    let open = this.#httpSockets.size;
    for (const conn of this.#conns.values()) if (conn.peer.tcpOpen) open++;
    return open;
  }

  /** A file the client uploaded, by the media_id the server gave it. */
  uploaded(mediaId: string): UploadedMedia | undefined {
    return this.#media.get(mediaId);
  }

  // ---- driving -------------------------------------------------------------

  /**
   * Delivers an inbound message: a group message to the bot's oldest
   * session, a DM to its newest. It is queued when that session's link is
   * half-open, gone or unsubscribed, and per bot when there is no session.
   */
  callback(botId: string, message: CallbackMessage): CallbackResult {
    const bot = this.#bot(botId);
    const group = message.chatType === "group";
    const msgtype = message.msgtype ?? "text";
    const chatId = group ? message.chatId ?? "group-1" : message.chatId;
    if (group && chatId) this.#groups.add(chatId);
    const reqId = `cb-${hex(16)}`;
    const msgid = message.msgid ?? `msg-${hex(16)}`;
    const body: Record<string, unknown> = {
      msgid,
      aibotid: botId,
      ...(chatId === undefined ? {} : { chatid: chatId }),
      chattype: group ? "group" : "single",
      from: { userid: message.userId },
      msgtype,
      ...textPayload(msgtype, message.text),
      ...message.body,
    };
    bot.reqIds.set(reqId, { at: this.#now(), group });
    const frame = { cmd: message.cmd ?? "aibot_msg_callback", headers: { req_id: reqId }, body };
    return {
      reqId,
      msgid,
      ...this.#route(bot, this.#pick(bot, group ? "oldest" : "newest"), frame),
    };
  }

  /**
   * Sends an `aibot_event_callback` to the bot's newest session (queued like
   * a DM when it cannot be written). `extra` is merged into the body; its
   * `event` object into the event.
   */
  event(botId: string, eventtype: string, extra: Record<string, unknown> = {}): CallbackResult {
    const bot = this.#bot(botId);
    const frame = this.#eventFrame(botId, eventtype, extra);
    const reqId = frame.headers.req_id;
    const msgid = String(frame.body.msgid);
    return { reqId, msgid, ...this.#route(bot, this.#pick(bot, "newest"), frame) };
  }

  /**
   * Ends links: a connection id, or every open connection of a bot's
   * registered sessions. `close` and `reset` also unregister the session
   * (the server knows it ended it); `half-open` keeps it registered.
   * Frames already queued for writing (an ack, a flushed callback) still go
   * out; nothing written after the drop does. Returns the connection ids dropped.
   */
  drop(target: string | number, mode: DropMode): number[] {
    const conns = typeof target === "number"
      ? [this.#conns.get(target)].filter((c): c is Conn => c !== undefined && c.peer.tcpOpen)
      : [...this.#bot(target).sessions.values()].map((s) => s.conn).filter((c) => c.peer.tcpOpen);
    const chosen = mode === "half-open" ? conns.filter((c) => c.state === "open") : conns;
    if (chosen.length === 0) {
      throw new Error(`Cannot drop ${JSON.stringify(target)}: no open connection`);
    }
    for (const conn of chosen) {
      if (mode === "half-open") {
        conn.state = "half-open";
        conn.peer.deaf = true;
        continue;
      }
      if (conn.session) this.#unregister(conn.session);
      if (mode === "close") conn.peer.close(1000, "closed by server");
      else conn.peer.destroy();
    }
    this.#notify();
    return chosen.map((c) => c.id);
  }

  /** Drops the newest open session's connection every `ms` (of `botId`, or of any bot). */
  dropEvery(ms: number, mode: DropMode, botId?: string): void {
    this.stopDropping();
    this.#dropTimer = setInterval(() => {
      const newest = [...this.#bots.entries()]
        .filter(([id]) => botId === undefined || id === botId)
        .flatMap(([, bot]) => [...bot.sessions.values()])
        .filter((s) => s.conn.state === "open")
        .sort((a, b) => b.order - a.order)[0];
      if (newest) this.drop(newest.conn.id, mode);
    }, ms);
  }

  /** Stops {@linkcode dropEvery}. */
  stopDropping(): void {
    clearInterval(this.#dropTimer);
    this.#dropTimer = undefined;
  }

  /** Answer pings (and WebSocket pings) or leave them all unanswered: the "connected but deaf" link. */
  setPingAcks(on: boolean): void {
    this.#pingAcks = on;
    for (const conn of this.#conns.values()) conn.peer.autoPong = on;
  }

  /**
   * Drops the bot's subscriptions but keeps its sockets (pings still acked):
   * sends get 846609 and callbacks queue until the client subscribes again.
   */
  dropSubscription(botId: string): void {
    for (const session of this.#bot(botId).sessions.values()) session.subscribed = false;
  }

  /** Answers the next `count` requests of `cmd` with `errcode` (any cmd, ping and subscribe included). */
  failNext(cmd: string, errcode: number, count = 1, errmsg?: string): void {
    const list = this.#failures.get(cmd) ?? [];
    list.push({ errcode, errmsg, count });
    this.#failures.set(cmd, list);
  }

  /**
   * Writes any message to a connection (a connection id, or the bot's
   * newest session): bad JSON, wrong types, huge strings. `fragments` > 1
   * splits it into continuation frames.
   */
  sendRaw(
    target: string | number,
    data: string | Uint8Array,
    opcode: "text" | "binary" = "text",
    fragments = 1,
  ): void {
    const conn = this.#target(target);
    const bytes = typeof data === "string" ? utf8(data) : data;
    const size = Math.ceil(bytes.length / Math.max(1, fragments)) || 1;
    for (
      let offset = 0, first = true;
      first || offset < bytes.length;
      offset += size, first = false
    ) {
      const code = first ? (opcode === "text" ? Opcode.text : Opcode.binary) : Opcode.continuation;
      conn.peer.send(code, bytes.subarray(offset, offset + size), offset + size >= bytes.length);
    }
    this.sent.push({ at: this.#now(), conn: conn.id, raw: data });
  }

  /** Sends a ping to a connection: a JSON `ping` frame or a WebSocket ping; returns its req_id or payload. */
  sendPing(target: string | number, kind: "json" | "ws" = "json"): string {
    const conn = this.#target(target);
    const id = `ping-${hex(16)}`;
    if (kind === "ws") conn.peer.send(Opcode.ping, utf8(id));
    else this.#send(conn, { cmd: "ping", headers: { req_id: id }, body: {} });
    return id;
  }

  /**
   * Opens the simulator's own client, which subscribes with a fresh
   * device_id (and `secret`, default the right one): every other responsive
   * session of the bot gets `disconnected_event` and is closed.
   */
  async takeover(botId: string, secret?: string): Promise<TakeoverHandle> {
    const bot = this.#bot(botId);
    const deviceId = `takeover-${hex(16)}`;
    const reqId = `subscribe-${hex(16)}`;
    const received: WecomFrame[] = [];
    let settle: (frame: WecomFrame | undefined) => void = () => {};
    const acked = new Promise<WecomFrame | undefined>((resolve) => settle = resolve);
    const { peer, done, localPort } = await connectClient(this.port, {
      onMessage: (data) => {
        const frame = parseFrame(new TextDecoder().decode(data));
        if (!frame) return;
        if (frame.headers?.req_id === reqId && frame.cmd === undefined) settle(frame);
        else received.push(frame);
      },
      onClosed: () => settle(undefined),
    }, {
      closeTimeoutMs: this.#closeTimeoutMs,
      onConnect: (tcp) => this.#internalPorts.add(tcp.localAddr.port),
    });
    peer.sendText(JSON.stringify({
      cmd: "aibot_subscribe",
      headers: { req_id: reqId },
      body: { bot_id: botId, secret: secret ?? bot.secret, device_id: deviceId },
    }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ack = await Promise.race([
      acked,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), 5000)),
    ]);
    clearTimeout(timer);
    if (!ack) {
      peer.destroy();
      await done;
      throw new Error(`Cannot take over "${botId}": no subscribe ack`);
    }
    const conn = [...this.#conns.values()].find((c) => c.remotePort === localPort);
    const handle: TakeoverHandle = {
      deviceId,
      conn: conn?.id ?? -1,
      errcode: ack.errcode ?? 0,
      errmsg: ack.errmsg ?? "",
      received,
      close: async () => {
        peer.close(1000, "takeover done");
        await done;
        this.#takeovers.delete(handle);
      },
    };
    this.#takeovers.add(handle);
    return handle;
  }

  /**
   * Serves bytes at `httpUrl/media/<random>`. With `encrypt`, AES-256-CBC
   * under a random 32-byte key, IV = key[0:16], PKCS#7 padded to a multiple
   * of 32 bytes (the WeCom variant, 1.12).
   */
  media(bytes: Uint8Array, options: MediaOptions = {}): ServedMedia {
    const id = hex(16);
    let body = bytes;
    let aeskey: string | undefined;
    if (options.encrypt) {
      const key = crypto.getRandomValues(new Uint8Array(32));
      const pad = 32 - (bytes.length % 32);
      const padded = new Uint8Array(bytes.length + pad);
      padded.set(bytes);
      padded.fill(pad, bytes.length);
      const cipher = createCipheriv("aes-256-cbc", key, key.subarray(0, 16)).setAutoPadding(false);
      body = concatBytes([cipher.update(padded), cipher.final()]);
      aeskey = btoa(String.fromCharCode(...key));
      if (options.unpaddedKey) aeskey = aeskey.replace(/=+$/, "");
    }
    if (options.padTo !== undefined && options.padTo > body.length) {
      const padded = new Uint8Array(options.padTo);
      padded.set(body);
      body = padded;
    }
    this.#served.set(id, { ...options, body });
    const url = `${this.httpUrl}/media/${id}`;
    return aeskey === undefined ? { url } : { url, aeskey };
  }

  // ---- lifecycle -----------------------------------------------------------

  /** Closes every connection (close frames where the link is responsive) and the listener. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    this.stopDropping();
    this.#abort.abort();
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    await Promise.allSettled([...this.#takeovers].map((t) => t.close()));
    for (const conn of this.#conns.values()) {
      if (conn.state === "open") conn.peer.close(1001, "server shutting down");
      else conn.peer.destroy();
    }
    for (const socket of this.#httpSockets) {
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
    await this.#accepting;
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    for (const waiter of [...this.#waiters]) {
      waiter.fail(new Error("WecomServer closed while waiting"));
    }
  }

  // ---- connections ---------------------------------------------------------

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let tcp: Deno.TcpConn;
      try {
        tcp = await this.#listener.accept();
      } catch {
        return;
      }
      // Like a real server: a callback written right after an ack must not
      // wait for the client's delayed ACK (Nagle), about 40 ms a round trip.
      tcp.setNoDelay(true);
      const task: Promise<void> = this.#handleSocket(tcp)
        .catch(() => {})
        .finally(() => this.#tasks.delete(task));
      this.#tasks.add(task);
    }
  }

  async #handleSocket(tcp: Deno.TcpConn): Promise<void> {
    this.#httpSockets.add(tcp);
    let upgraded = false;
    try {
      const head = await readHttpHead(tcp);
      if (!head) return;
      const [method = "", path = ""] = head.startLine.split(" ");
      if (head.headers.get("upgrade")?.toLowerCase() === "websocket") {
        if (!await acceptUpgrade(tcp, head)) return;
        this.#httpSockets.delete(tcp);
        upgraded = true;
        await this.#runWebSocket(tcp, head.rest);
        return;
      }
      await this.#serveHttp(tcp, method, path, head.headers);
    } finally {
      if (!upgraded) {
        this.#httpSockets.delete(tcp);
        try {
          tcp.close();
        } catch {
          // already closed
        }
      }
    }
  }

  async #runWebSocket(tcp: Deno.TcpConn, rest: Uint8Array): Promise<void> {
    const remotePort = tcp.remoteAddr.port;
    const conn: Conn = {
      id: ++this.#connSeq,
      state: "open",
      internal: this.#internalPorts.has(remotePort),
      remotePort,
      peer: undefined as unknown as WsPeer,
    };
    conn.peer = new WsPeer(tcp, "server", rest, {
      onMessage: (data, binary) => this.#onMessage(conn, data, binary),
      onControl: (kind, payload) => {
        const record: ControlRecord = { at: this.#now(), conn: conn.id, kind, payload };
        if (kind === "close" && payload.length >= 2) record.code = (payload[0]! << 8) | payload[1]!;
        if (conn.state !== "open") record.lost = true;
        this.controlFrames.push(record);
      },
      onProtocolError: (message) =>
        this.protocolErrors.push({ at: this.#now(), conn: conn.id, message }),
      onClosed: () => this.#onClosed(conn),
    }, { closeTimeoutMs: this.#closeTimeoutMs });
    conn.peer.autoPong = this.#pingAcks;
    this.#conns.set(conn.id, conn);
    await conn.peer.start();
  }

  #onClosed(conn: Conn): void {
    const wasHalfOpen = conn.state === "half-open";
    conn.state = "closed";
    // A half-open link's end is never noticed: its session stays registered (a zombie).
    if (!wasHalfOpen && conn.session) this.#unregister(conn.session);
    this.#notify();
  }

  #onMessage(conn: Conn, data: Uint8Array, binary: boolean): void {
    const raw = new TextDecoder().decode(data);
    const record: FrameRecord = { at: this.#now(), conn: conn.id, raw };
    const frame = parseFrame(raw);
    if (frame) record.frame = frame;
    if (binary) record.binary = true;
    if (conn.internal) record.internal = true;
    if (conn.state !== "open") record.lost = true;
    this.frames.push(record);
    if (!record.lost && !binary && frame) this.#dispatch(conn, frame);
    this.#notify();
  }

  // ---- commands ------------------------------------------------------------

  #dispatch(conn: Conn, frame: WecomFrame): void {
    const reqId = typeof frame.headers?.req_id === "string" ? frame.headers.req_id : "";
    const body = isRecord(frame.body) ? frame.body : {};
    const cmd = frame.cmd;
    if (cmd === "ping" && !this.#pingAcks) return;
    const failure = typeof cmd === "string" ? this.#takeFailure(cmd) : undefined;
    if (failure) return this.#ack(conn, reqId, failure);
    switch (cmd) {
      case "aibot_subscribe":
        return this.#subscribe(conn, reqId, body);
      case "ping":
        return this.#ack(conn, reqId, OK);
      case "aibot_respond_msg":
        return this.#ack(conn, reqId, this.#respondMsg(conn, reqId, body));
      case "aibot_send_msg":
        return this.#ack(conn, reqId, this.#sendMsg(conn, body));
      case "aibot_upload_media_init":
        return this.#ack(conn, reqId, this.#uploadInit(conn, body));
      case "aibot_upload_media_chunk":
        return this.#ack(conn, reqId, this.#uploadChunk(conn, body));
      case "aibot_upload_media_finish":
        return this.#ack(conn, reqId, this.#uploadFinish(conn, body));
      default:
        return this.#ack(conn, reqId, fail(40004, "unknown cmd"));
    }
  }

  #subscribe(conn: Conn, reqId: string, body: Record<string, unknown>): void {
    const botId = typeof body.bot_id === "string" ? body.bot_id : "";
    const bot = this.#bots.get(botId);
    if (!bot || body.secret !== bot.secret) {
      return this.#ack(conn, reqId, fail(40013, "invalid secret"));
    }
    const deviceId = body.device_id;
    if (typeof deviceId !== "string" || deviceId === "") {
      return this.#ack(conn, reqId, fail(40058, "invalid device_id"));
    }
    // One subscription per connection: subscribing as someone else leaves the old session.
    const previous = conn.session;
    if (previous && (previous.botId !== botId || previous.deviceId !== deviceId)) {
      this.#unregister(previous);
    }
    let session = bot.sessions.get(deviceId);
    if (session && session.conn !== conn) {
      const old = session.conn;
      old.session = undefined;
      if (old.state === "open") {
        old.peer.close(1000, "replaced by a connection with the same device_id");
      }
      session.conn = conn;
    }
    if (!session) {
      session = { botId, deviceId, conn, subscribed: false, queue: [], order: 0 };
      bot.sessions.set(deviceId, session);
    }
    session.subscribed = true;
    session.order = ++this.#order;
    conn.session = session;
    // Another device_id takes the bot: live sessions are told and closed; half-open ones stay.
    for (const other of [...bot.sessions.values()]) {
      if (other === session || other.conn.state !== "open") continue;
      const kicked = other.conn;
      this.#send(kicked, this.#eventFrame(botId, "disconnected_event", {}));
      this.#unregister(other);
      kicked.peer.close(1000, "another connection subscribed for this bot");
    }
    this.#ack(conn, reqId, OK);
    for (const frame of [...session.queue.splice(0), ...bot.queue.splice(0)]) {
      this.#send(conn, frame);
    }
    bot.subscribes.push({ conn: conn.id, deviceId });
  }

  #respondMsg(conn: Conn, reqId: string, body: Record<string, unknown>): Result {
    const session = subscribedSession(conn);
    if (!session) return fail(846609, "aibot websocket not subscribed");
    const bot = this.#bot(session.botId);
    const issued = bot.reqIds.get(reqId);
    if (!issued) return fail(40008, "invalid req_id");
    const now = this.#now();
    if (now - issued.at > this.#replyWindowMs) return fail(846604, "reply window expired");
    const invalid = this.#checkMessage(body, true);
    if (invalid) return invalid;
    if (body.msgtype === "stream") {
      if (issued.group) return fail(600039, "stream msgtype not supported in group chat");
      const streamKey = `${reqId}/${(body.stream as Record<string, unknown>).id}`;
      const first = bot.streams.get(streamKey) ?? now;
      bot.streams.set(streamKey, first);
      if (now - first > this.#streamWindowMs) return fail(846608, "stream window expired");
    }
    return OK;
  }

  #sendMsg(conn: Conn, body: Record<string, unknown>): Result {
    if (!subscribedSession(conn)) return fail(846609, "aibot websocket not subscribed");
    if (typeof body.chatid !== "string" || body.chatid === "") return fail(40058, "invalid chatid");
    if (this.#groups.has(body.chatid)) {
      return fail(600039, "aibot not allowed to send msg to group");
    }
    return this.#checkMessage(body, false) ?? OK;
  }

  /** An error for a message body that cannot be sent, or undefined. */
  #checkMessage(body: Record<string, unknown>, allowStream: boolean): Result | undefined {
    const msgtype = body.msgtype;
    const payload = typeof msgtype === "string" ? body[msgtype] : undefined;
    if (typeof msgtype !== "string") return fail(40058, "invalid msgtype");
    if (!isRecord(payload)) return fail(40058, `invalid ${msgtype}`);
    if (msgtype === "markdown" || msgtype === "text") {
      if (typeof payload.content !== "string") return fail(40058, `invalid ${msgtype}.content`);
      if (msgtype === "markdown" && utf8Length(payload.content) > MAX_CONTENT_BYTES) {
        return fail(40003, `markdown content exceeds ${MAX_CONTENT_BYTES} bytes`);
      }
      return undefined;
    }
    if (MEDIA_MSGTYPES.has(msgtype)) {
      const media = typeof payload.media_id === "string"
        ? this.#media.get(payload.media_id)
        : undefined;
      return media ? undefined : fail(40007, "invalid media_id");
    }
    if (msgtype === "stream" && allowStream) {
      if (typeof payload.id !== "string" || payload.id === "") {
        return fail(40058, "invalid stream.id");
      }
      const content = payload.content ?? "";
      if (typeof content !== "string") return fail(40058, "invalid stream.content");
      if (utf8Length(content) > MAX_CONTENT_BYTES) {
        return fail(40003, `stream content exceeds ${MAX_CONTENT_BYTES} bytes`);
      }
      return undefined;
    }
    return fail(40058, `unsupported msgtype ${msgtype}`);
  }

  #uploadInit(conn: Conn, body: Record<string, unknown>): Result {
    const session = subscribedSession(conn);
    if (!session) return fail(846609, "aibot websocket not subscribed");
    const { type, filename, total_size: totalSize, total_chunks: totalChunks, md5 } = body;
    if (typeof type !== "string" || !(type in UPLOAD_LIMITS)) return fail(40058, "invalid type");
    if (typeof filename !== "string" || filename === "") return fail(40058, "invalid filename");
    if (!isPositiveInteger(totalSize)) return fail(40058, "invalid total_size");
    if (!isPositiveInteger(totalChunks)) return fail(40058, "invalid total_chunks");
    if (typeof md5 !== "string" || !/^[0-9a-f]{32}$/i.test(md5)) return fail(40058, "invalid md5");
    if (totalChunks > MAX_CHUNKS) {
      return fail(40009, `total_chunks ${totalChunks} exceeds the limit of ${MAX_CHUNKS}`);
    }
    if (totalSize > UPLOAD_LIMITS[type]!) {
      return fail(
        40009,
        `total_size ${totalSize} exceeds the ${type} limit of ${UPLOAD_LIMITS[type]}`,
      );
    }
    const uploadId = `upload-${hex(16)}`;
    this.#uploads.set(uploadId, {
      botId: session.botId,
      type,
      filename,
      totalSize,
      totalChunks,
      md5: md5.toLowerCase(),
      chunks: new Map(),
    });
    return { ...OK, body: { upload_id: uploadId } };
  }

  #uploadChunk(conn: Conn, body: Record<string, unknown>): Result {
    const session = subscribedSession(conn);
    if (!session) return fail(846609, "aibot websocket not subscribed");
    const upload = this.#upload(session, body.upload_id);
    if (!upload) return fail(40058, "invalid upload_id");
    const index = body.chunk_index;
    if (
      typeof index !== "number" || !Number.isInteger(index) || index < 0 ||
      index >= upload.totalChunks
    ) {
      return fail(40058, `invalid chunk_index: must be 0 to ${upload.totalChunks - 1}`);
    }
    const bytes = typeof body.base64_data === "string" ? decodeBase64(body.base64_data) : undefined;
    if (!bytes) return fail(40058, "invalid base64_data");
    upload.chunks.set(index, bytes);
    return OK;
  }

  #uploadFinish(conn: Conn, body: Record<string, unknown>): Result {
    const session = subscribedSession(conn);
    if (!session) return fail(846609, "aibot websocket not subscribed");
    const upload = this.#upload(session, body.upload_id);
    if (!upload) return fail(40058, "invalid upload_id");
    const missing = [];
    for (let i = 0; i < upload.totalChunks; i++) if (!upload.chunks.has(i)) missing.push(i);
    if (missing.length > 0) return fail(40009, `missing chunks: ${missing.join(", ")}`);
    const bytes = concatBytes(
      [...upload.chunks.entries()].sort(([a], [b]) => a - b).map(([, c]) => c),
    );
    if (bytes.length !== upload.totalSize) {
      return fail(
        40009,
        `size mismatch: received ${bytes.length} bytes, expected ${upload.totalSize}`,
      );
    }
    const md5 = createHash("md5").update(bytes).digest("hex");
    if (md5 !== upload.md5) {
      return fail(40009, `md5 mismatch: received ${md5}, expected ${upload.md5}`);
    }
    this.#uploads.delete(String(body.upload_id));
    const mediaId = `media-${hex(24)}`;
    this.#media.set(mediaId, {
      bytes,
      type: upload.type,
      filename: upload.filename,
      botId: upload.botId,
    });
    return {
      ...OK,
      body: {
        media_id: mediaId,
        type: upload.type,
        created_at: String(Math.floor(this.#now() / 1000)),
      },
    };
  }

  #upload(session: Session, uploadId: unknown): Upload | undefined {
    const upload = typeof uploadId === "string" ? this.#uploads.get(uploadId) : undefined;
    return upload?.botId === session.botId ? upload : undefined;
  }

  // ---- routing -------------------------------------------------------------

  #pick(bot: Bot, which: "oldest" | "newest"): Session | undefined {
    const sessions = [...bot.sessions.values()].sort((a, b) => a.order - b.order);
    return which === "oldest" ? sessions[0] : sessions.at(-1);
  }

  #route(
    bot: Bot,
    session: Session | undefined,
    frame: WecomFrame,
  ): { routedTo: number | null; queued: boolean } {
    if (!session) {
      bot.queue.push(frame);
      return { routedTo: null, queued: true };
    }
    if (session.subscribed && session.conn.state === "open") {
      this.#send(session.conn, frame);
      return { routedTo: session.conn.id, queued: false };
    }
    session.queue.push(frame);
    return { routedTo: session.conn.id, queued: true };
  }

  /** Removes a session from its bot; what waited on it waits for the bot's next subscriber. */
  #unregister(session: Session): void {
    const bot = this.#bot(session.botId);
    if (bot.sessions.get(session.deviceId) === session) bot.sessions.delete(session.deviceId);
    bot.queue.push(...session.queue.splice(0));
    if (session.conn.session === session) session.conn.session = undefined;
  }

  #eventFrame(botId: string, eventtype: string, extra: Record<string, unknown>) {
    const event = isRecord(extra.event) ? extra.event : {};
    return {
      cmd: "aibot_event_callback",
      headers: { req_id: `ev-${hex(16)}` },
      body: {
        msgid: `ev-${hex(16)}`,
        create_time: Math.floor(this.#now() / 1000),
        aibotid: botId,
        chattype: "single",
        from: { userid: "system" },
        msgtype: "event",
        ...extra,
        event: { eventtype, ...event },
      } as Record<string, unknown>,
    };
  }

  // ---- plumbing ------------------------------------------------------------

  #send(conn: Conn, frame: WecomFrame): void {
    if (conn.state !== "open") return;
    conn.peer.sendText(JSON.stringify(frame));
    this.sent.push({ at: this.#now(), conn: conn.id, frame });
  }

  #ack(conn: Conn, reqId: string, result: Result): void {
    const frame: WecomFrame = {
      headers: { req_id: reqId },
      errcode: result.errcode,
      errmsg: result.errmsg,
    };
    if (result.body) frame.body = result.body;
    this.#send(conn, frame);
  }

  #takeFailure(cmd: string): Result | undefined {
    const next = this.#failures.get(cmd)?.[0];
    if (!next) return undefined;
    if (--next.count <= 0) this.#failures.get(cmd)?.shift();
    return fail(next.errcode, next.errmsg ?? `simulated error ${next.errcode}`);
  }

  #bot(botId: string): Bot {
    const bot = this.#bots.get(botId);
    if (!bot) throw new Error(`Cannot find bot "${botId}": not in the simulator's bots`);
    return bot;
  }

  #target(target: string | number): Conn {
    const conn = typeof target === "number"
      ? this.#conns.get(target)
      : this.#pick(this.#bot(target), "newest")?.conn;
    if (!conn || conn.state !== "open") {
      throw new Error(`Cannot write to ${JSON.stringify(target)}: no open, responsive connection`);
    }
    return conn;
  }

  #wait<T>(probe: () => T | undefined, timeoutMs: number, describe: () => string): Promise<T> {
    const hit = probe();
    if (hit !== undefined) return Promise.resolve(hit);
    if (this.#closing) return Promise.reject(new Error("WecomServer is closed"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => waiter.fail(new Error(describe())), timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        check: () => {
          const value = probe();
          if (value === undefined) return;
          settle();
          resolve(value);
        },
        fail: (error) => {
          settle();
          reject(error);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter.check();
  }

  async #serveHttp(tcp: Deno.Conn, method: string, path: string, headers: Map<string, string>) {
    this.mediaRequests.push(path);
    this.httpRequests.push({ at: this.#now(), method, path, headers: Object.fromEntries(headers) });
    const match = /^\/media\/([0-9a-f]+)(?:\?.*)?$/.exec(path);
    const served = method === "GET" && match ? this.#served.get(match[1]!) : undefined;
    if (!served) return respondText(tcp, "404 Not Found", "not found");
    if (!await this.#sleep(served.delayMs)) return;
    const head: Record<string, string> = {
      "content-type": served.contentType ?? "application/octet-stream",
    };
    if (served.filename !== undefined) {
      head["content-disposition"] =
        `attachment; filename="${served.filename.replace(/["\\]/g, "_")}"; ` +
        `filename*=UTF-8''${encodeURIComponent(served.filename)}`;
    }
    if (served.chunked) head["transfer-encoding"] = "chunked";
    else head["content-length"] = String(served.declaredLength ?? served.body.length);
    await writeHttpHead(tcp, "200 OK", head);
    const step = 64 * 1024;
    for (let offset = 0; offset < served.body.length; offset += step) {
      if (offset > 0 && !await this.#sleep(served.chunkDelayMs)) return;
      const part = served.body.subarray(offset, offset + step);
      await (served.chunked ? writeChunk(tcp, part) : writeAll(tcp, part));
    }
    if (served.chunked) await writeChunk(tcp, new Uint8Array(0));
  }

  /** Sleeps unless the server closes first; false when it did. */
  #sleep(ms = 0): Promise<boolean> {
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

function subscribedSession(conn: Conn): Session | undefined {
  const session = conn.session;
  return session && session.subscribed && session.conn === conn ? session : undefined;
}

function textPayload(msgtype: string, text: string | undefined): Record<string, unknown> {
  if (msgtype === "text") return { text: { content: text ?? "" } };
  if (text === undefined) return {};
  if (msgtype === "voice") return { voice: { content: text } };
  if (msgtype === "mixed") {
    return { mixed: { msg_item: [{ msgtype: "text", text: { content: text } }] } };
  }
  return {};
}

function fail(errcode: number, errmsg: string): Result {
  return { errcode, errmsg };
}

function parseFrame(raw: string): WecomFrame | undefined {
  try {
    const value = JSON.parse(raw);
    return isRecord(value) ? value as WecomFrame : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0;
}

function utf8Length(text: string): number {
  return utf8(text).length;
}

function decodeBase64(text: string): Uint8Array | undefined {
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return undefined;
  }
}

function hex(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(length / 2)));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, length);
}
