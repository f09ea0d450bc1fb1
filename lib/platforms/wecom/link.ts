/**
 * The life of one bot's long connection: open, subscribe with the bot's
 * stable device_id, prove every minute that the server still answers
 * (pings whose acks are awaited: two missed acks end the link), reconnect
 * with backoff and jitter forever, subscribe again when the server dropped
 * the subscription or nothing arrived for a long time, and step back when
 * another client took the bot (`disconnected_event`). Every change goes into
 * the link health the gateway publishes.
 *
 * @module
 */

import type { LinkHealthTracker } from "../health.ts";
import type { Logger } from "../../util/log.ts";
import { backoffDelay } from "../../util/backoff.ts";
import { type WecomFrame, WecomLinkError, WecomRequestError, WecomSocket } from "./api.ts";

/** What {@linkcode WecomLink} needs. */
export interface WecomLinkOptions {
  readonly url: string;
  readonly botId: string;
  readonly secret: string;
  readonly deviceId: string;
  readonly heartbeatMs: number;
  readonly heartbeatTimeoutMs: number;
  /** Subscribe again after this long without a callback (0: never). */
  readonly idleResubscribeMs: number;
  /** Wait after another client took the bot. */
  readonly supersededRetryMs: number;
  /** Reconnect delays: default 1 s doubling to 30 s, with jitter. */
  readonly backoff?: { readonly baseMs?: number; readonly maxMs?: number };
  readonly health: LinkHealthTracker;
  readonly log: Logger;
  /** Message callbacks (`aibot_msg_callback`, legacy `aibot_callback`). */
  readonly onMessage: (frame: WecomFrame) => void;
  /** Called for every errcode met, for the counts in the link health. */
  readonly onErrcode: (errcode: number, cmd: string) => void;
}

/** How long the handshake and the subscribe ack may take. */
const SUBSCRIBE_TIMEOUT_MS = 20_000;
/** A link the server closes sooner than this after its subscribe was (probably) taken over. */
const QUICK_CLOSE_MS = 5_000;

/**
 * One bot's link.
 *
 * @example
 * ```ts
 * import type { Logger } from "../../util/log.ts";
 * import { LinkHealthTracker } from "../health.ts";
 * declare const log: Logger;
 *
 * const link = new WecomLink({
 *   url: "wss://openws.work.weixin.qq.com",
 *   botId: "bot-1",
 *   secret: "bot-secret",
 *   deviceId: "9f1c0d2e4b6a48c7a1e3f5b7d9c2e4a6",
 *   heartbeatMs: 30_000,
 *   heartbeatTimeoutMs: 10_000,
 *   idleResubscribeMs: 1_800_000,
 *   supersededRetryMs: 300_000,
 *   health: new LinkHealthTracker(),
 *   log,
 *   onMessage: (frame) => console.log(frame.body),
 *   onErrcode: (errcode, cmd) => console.log(cmd, errcode),
 * });
 * await link.start(); // subscribed
 * await link.request("aibot_send_msg", { chatid: "zs", msgtype: "markdown", markdown: { content: "hi" } });
 * ```
 */
export class WecomLink {
  readonly #o: WecomLinkOptions;
  /** The subscribed socket, while there is one. */
  #socket: WecomSocket | undefined;
  /** Sockets opened and not yet closed (callbacks from any of them are real messages). */
  readonly #open = new Set<WecomSocket>();
  #stopped = false;
  #failures = 0;
  #missed = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #resubscribing: Promise<void> | undefined;
  readonly #counts = { resubscribes: 0, idle_resubscribes: 0, missed_acks: 0, malformed_frames: 0 };
  #malformedMinute = 0;
  #subscribedAt = 0;
  /** Links in a row the server closed right after their subscribe. */
  #quickCloses = 0;
  #malformedLogged = 0;

  constructor(options: WecomLinkOptions) {
    this.#o = options;
    options.health.detail("device_id", options.deviceId);
    options.health.detail("bot_id", options.botId);
    options.health.detail("url", options.url);
  }

  /** Whether a subscribed socket is there now. */
  get up(): boolean {
    return this.#socket !== undefined;
  }

  /**
   * The first connect: resolves once subscribed; rejects with what went
   * wrong (a `WecomRequestError` 40013 for a wrong secret). From then on the
   * link keeps itself up until {@linkcode stop}.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#o.health.set("connecting");
    await this.#connect();
  }

  /**
   * Sends a request on the subscribed socket; rejects with a retryable
   * `WecomLinkError` when there is none.
   */
  request(
    cmd: string,
    body: Record<string, unknown>,
    options: { reqId?: string; timeoutMs?: number } = {},
  ): Promise<WecomFrame> {
    const socket = this.#socket;
    if (!socket) {
      return Promise.reject(
        new WecomLinkError("WeCom websocket is not connected", "not_connected"),
      );
    }
    return socket.request(cmd, body, options).catch((error) => {
      if (error instanceof WecomRequestError) this.#o.onErrcode(error.errcode, cmd);
      // No ack in time: a late one could be taken for the next request's on the same req_id,
      // and a link that leaves requests unanswered is not one to keep.
      if (error instanceof WecomLinkError && error.platformCode === "timeout") {
        this.#lost(socket, `no answer to ${cmd} in time`);
      }
      throw error;
    });
  }

  /**
   * Subscribes again on the live socket (the server dropped the
   * subscription: 846609), or reconnects when that fails; resolves once
   * subscribed again, rejects when it could not be done now.
   */
  resubscribe(cause: string): Promise<void> {
    this.#resubscribing ??= this.#resubscribe(cause).finally(() => this.#resubscribing = undefined);
    return this.#resubscribing;
  }

  /** Closes the link for good; health reads `stopped`. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#heartbeatTimer);
    clearTimeout(this.#idleTimer);
    const sockets = [...this.#open];
    this.#socket = undefined;
    this.#open.clear();
    for (const socket of sockets) socket.close("hermes is stopping");
    this.#o.health.set("stopped");
  }

  async #connect(): Promise<void> {
    const { url, log } = this.#o;
    const socket: WecomSocket = await WecomSocket.open(url, {
      connectTimeoutMs: SUBSCRIBE_TIMEOUT_MS,
      onFrame: (frame) => this.#frame(socket, frame),
      onMalformed: (data) => this.#malformed(data),
      onClose: (reason, byPeer) => this.#closed(socket, reason, byPeer),
    });
    this.#open.add(socket);
    if (this.#stopped) return socket.close("hermes is stopping");
    try {
      await this.#subscribe(socket);
    } catch (error) {
      socket.close("the subscribe failed");
      throw error;
    }
    if (this.#stopped) return socket.close("hermes is stopping");
    this.#socket = socket;
    this.#subscribedAt = performance.now();
    // A link the server keeps closing right after subscribing does not earn a fresh backoff.
    if (this.#quickCloses === 0) this.#failures = 0;
    this.#missed = 0;
    this.#o.health.set("subscribed");
    this.#o.health.detail("subscribed_at", new Date().toISOString());
    log.info("WeCom link subscribed", { device_id: this.#o.deviceId });
    this.#scheduleHeartbeat(this.#o.heartbeatMs);
    this.#armIdle();
  }

  async #subscribe(socket: WecomSocket): Promise<void> {
    const { botId, secret, deviceId } = this.#o;
    try {
      await socket.request("aibot_subscribe", { bot_id: botId, secret, device_id: deviceId }, {
        prefix: "subscribe",
        timeoutMs: SUBSCRIBE_TIMEOUT_MS,
      });
    } catch (error) {
      if (error instanceof WecomRequestError) this.#o.onErrcode(error.errcode, "aibot_subscribe");
      throw error;
    }
  }

  async #resubscribe(cause: string): Promise<void> {
    const socket = this.#socket;
    this.#counts.resubscribes++;
    this.#publishCounts();
    this.#o.log.info("subscribing the WeCom link again", { cause });
    if (socket) {
      try {
        await this.#subscribe(socket);
        this.#armIdle();
        return;
      } catch (error) {
        this.#o.log.warn("subscribing again failed; reconnecting", { cause, error });
        this.#lost(socket, `subscribing again failed after ${cause}`);
      }
    }
    throw new WecomLinkError(`WeCom link is reconnecting (${cause})`, "not_connected");
  }

  #frame(socket: WecomSocket, frame: WecomFrame): void {
    const { cmd } = frame;
    if (cmd === "aibot_msg_callback" || cmd === "aibot_callback") {
      if (socket === this.#socket) this.#armIdle();
      return this.#o.onMessage(frame);
    }
    if (cmd === "aibot_event_callback") {
      if (socket === this.#socket) this.#armIdle();
      const event = frame.body?.event;
      const type = typeof event === "object" && event !== null
        ? (event as Record<string, unknown>).eventtype
        : undefined;
      if (type === "disconnected_event") this.#superseded(socket);
      return;
    }
    if (cmd === "ping") return; // the server's own heartbeat needs no answer
    this.#o.log.debug("skipped a WeCom frame", { cmd, req_id: frame.headers.req_id });
  }

  /** Another client subscribed with this bot: believe it, and step back for a while. */
  #superseded(socket: WecomSocket): void {
    const at = new Date().toISOString();
    this.#stepBack(
      socket,
      "disconnected_event",
      `another client subscribed with this bot id at ${at}`,
    );
  }

  /** Another client holds the bot: read `superseded`, say why, and try again only after a while. */
  #stepBack(socket: WecomSocket, code: string, cause: string): void {
    if (this.#stopped) return;
    const message = `${cause}; retrying in ${this.#o.supersededRetryMs / 1000} s`;
    this.#o.log.error("WeCom link taken over by another client", {
      cause: code,
      message,
      fix: "stop the other gateway or probe that uses this bot (or give it its own bot)",
    });
    this.#o.health.error(code, message);
    this.#o.health.detail("superseded_at", new Date().toISOString());
    this.#drop(socket, code);
    this.#o.health.set("superseded");
    this.#reconnectLater(this.#o.supersededRetryMs);
  }

  #closed(socket: WecomSocket, reason: string, byPeer: boolean): void {
    this.#open.delete(socket);
    if (socket !== this.#socket) return;
    const quick = byPeer && performance.now() - this.#subscribedAt < QUICK_CLOSE_MS;
    this.#quickCloses = quick ? this.#quickCloses + 1 : 0;
    if (this.#quickCloses < 2) return this.#lost(socket, reason);
    // The server ends every link of ours as soon as it is subscribed: someone else holds the bot
    // under our device_id (a copy of this home elsewhere, a probe with --force). Step back.
    this.#stepBack(
      socket,
      "closed_after_subscribe",
      `the server closed the link right after each of the last ${this.#quickCloses} subscribes: another client probably uses this bot with the same device_id (a copy of this home on another machine?)`,
    );
  }

  /** The subscribed socket is gone: reconnect after a backoff. */
  #lost(socket: WecomSocket, cause: string): void {
    if (this.#stopped || socket !== this.#socket) return;
    this.#drop(socket, cause);
    this.#o.log.warn("WeCom link lost; reconnecting", { cause });
    this.#o.health.detail("last_reconnect", { at: new Date().toISOString(), cause });
    this.#o.health.set("retrying");
    this.#reconnectLater(this.#delay());
  }

  #drop(socket: WecomSocket, cause: string): void {
    if (socket === this.#socket) this.#socket = undefined;
    clearTimeout(this.#heartbeatTimer);
    clearTimeout(this.#idleTimer);
    this.#open.delete(socket);
    socket.close(cause);
  }

  #delay(): number {
    return backoffDelay(this.#failures++, {
      baseMs: this.#o.backoff?.baseMs ?? 1_000,
      maxMs: this.#o.backoff?.maxMs ?? 30_000,
    });
  }

  #reconnectLater(delayMs: number): void {
    clearTimeout(this.#reconnectTimer);
    if (this.#stopped) return;
    this.#reconnectTimer = setTimeout(() => void this.#reconnect(), delayMs);
  }

  async #reconnect(): Promise<void> {
    if (this.#stopped || this.#socket) return;
    try {
      await this.#connect();
    } catch (error) {
      // Told meanwhile that another client holds the bot: its slow retry stands.
      if (this.#stopped || this.#o.health.state === "superseded") return;
      const fatal = error instanceof WecomRequestError && error.action === "fatal";
      this.#o.log.warn("WeCom reconnect failed", { error, fatal });
      if (error instanceof WecomRequestError) {
        this.#o.health.error(String(error.errcode), error.message);
      } else if (error instanceof Error) {
        this.#o.health.error("connect_failed", error.message);
      }
      // A refused secret will not fix itself soon: try again slowly, not in a tight loop.
      this.#o.health.set(fatal ? "fatal" : "retrying");
      this.#reconnectLater(fatal ? this.#o.supersededRetryMs : this.#delay());
    }
  }

  #scheduleHeartbeat(delayMs: number): void {
    clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = setTimeout(() => void this.#ping(), delayMs);
  }

  /** One ping; its ack is awaited. A miss pings again at once; two in a row end the link. */
  async #ping(): Promise<void> {
    const socket = this.#socket;
    if (!socket || this.#stopped) return;
    const started = performance.now();
    try {
      await socket.request("ping", {}, { prefix: "ping", timeoutMs: this.#o.heartbeatTimeoutMs });
      if (socket !== this.#socket) return;
      this.#o.health.detail("last_ping_ack_ms", Math.round(performance.now() - started));
      if (this.#missed > 0 && this.#o.health.state === "degraded") this.#o.health.set("subscribed");
      this.#missed = 0;
      this.#scheduleHeartbeat(this.#o.heartbeatMs);
    } catch (error) {
      if (socket !== this.#socket) return;
      if (error instanceof WecomLinkError && error.platformCode === "interrupted") return;
      if (error instanceof WecomRequestError) {
        // Answered, so the link is alive; an errcode on a ping (846609) says what is wrong.
        this.#o.onErrcode(error.errcode, "ping");
        this.#missed = 0;
        if (error.action === "resubscribe") {
          this.resubscribe(`errcode ${error.errcode} on a ping`).catch(() => {});
        }
        return this.#scheduleHeartbeat(this.#o.heartbeatMs);
      }
      this.#missed++;
      this.#counts.missed_acks++;
      this.#publishCounts();
      if (this.#missed >= 2) {
        this.#o.health.error("heartbeat", `${this.#missed} pings in a row were not answered`);
        return this.#lost(socket, `${this.#missed} pings in a row were not answered`);
      }
      this.#o.log.warn("WeCom did not answer a ping; pinging again", { error });
      this.#o.health.set("degraded");
      this.#scheduleHeartbeat(0);
    }
  }

  /** Restarts the inbound-silence watchdog. */
  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    const idle = this.#o.idleResubscribeMs;
    if (idle <= 0 || this.#stopped) return;
    this.#idleTimer = setTimeout(() => {
      this.#counts.idle_resubscribes++;
      this.resubscribe(`no callback for ${idle / 1000} s`).catch(() => {});
    }, idle);
  }

  /** Logs a frame that is not one (the first few of each minute; all are counted). */
  #malformed(data: string): void {
    const minute = Math.floor(Date.now() / 60_000);
    if (minute !== this.#malformedMinute) {
      this.#malformedMinute = minute;
      this.#malformedLogged = 0;
    }
    this.#counts.malformed_frames++;
    this.#publishCounts();
    if (this.#malformedLogged++ < 5) {
      this.#o.log.warn("skipped a frame that is not a WeCom frame", {
        bytes: data.length,
        start: data.slice(0, 80),
        counted: this.#counts.malformed_frames,
      });
    }
  }

  #publishCounts(): void {
    this.#o.health.detail("link_counts", { ...this.#counts });
  }
}
