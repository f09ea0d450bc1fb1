/**
 * The WeCom AI Bot adapter: one bot's long connection (see `link.ts`),
 * callbacks turned into `MessageEvent`s (each carrying its req_id as the
 * reply context), and replies sent the way WeCom takes them: `markdown` on
 * the chat's newest req_id (`aibot_respond_msg`), proactively
 * (`aibot_send_msg`) only in DMs, and "not now" (`deferred`) for a group
 * that has no req_id to answer on, until its next message.
 *
 * @module
 */

import { ConfigError } from "../../errors.ts";
import type { AdapterContext, Capabilities, PlatformAdapter } from "../adapter.ts";
import type {
  Attachment,
  Json,
  MessageEvent,
  OutboundMessage,
  SendContext,
  SendResult,
  SessionSource,
} from "../event.ts";
import type { LinkHealth } from "../health.ts";
import { isObject, type WecomFrame, WecomRequestError } from "./api.ts";
import { deviceIdFor } from "./device_id.ts";
import { stateOf } from "../platform_state.ts";
import { type InboundMessage, readCallback } from "./inbound.ts";
import { WecomLink } from "./link.ts";
import { decryptMedia, fromBase64, outboundKind, uploadMedia } from "./media.ts";
import type { WecomSettings } from "./section.ts";
import { TextBatcher } from "../text_batcher.ts";
import { BoundedMap } from "../../util/bounded_map.ts";
import { SeenIds } from "../seen_ids.ts";

/** The credential lock scope of a bot id. */
export const WECOM_LOCK_SCOPE = "wecom-bot";

/** What WeCom AI Bots can do. */
export const WECOM_CAPABILITIES: Capabilities = {
  streaming: "final", // `stream` replies fail on many mobile clients (600039)
  maxMessageLength: 4000,
  lengthUnit: "utf16",
  typing: false,
  proactive: { dm: true, group: false },
  media: { in: ["image", "file"], out: ["image", "file", "voice", "video"] },
};

/**
 * The req_id a reply context carries (what a callback's event put there).
 *
 * @example
 * ```ts
 * replyReqId({ req_id: "R1", at: "2026-12-01T10:00:00.000Z" }); // "R1"
 * ```
 */
export function replyReqId(context: Json | undefined): string | undefined {
  if (!isObject(context)) return undefined;
  const reqId = (context as Record<string, unknown>).req_id;
  return typeof reqId === "string" && reqId.trim() !== "" ? reqId : undefined;
}

/**
 * One WeCom AI Bot.
 *
 * @example
 * ```ts
 * import type { AdapterContext } from "../adapter.ts";
 * import type { WecomSettings } from "./section.ts";
 * declare const context: AdapterContext<WecomSettings>; // what the gateway hands the adapter
 *
 * const adapter = new WecomAdapter(context);
 * await adapter.connect(); // subscribed with the bot's device_id
 * ```
 */
export class WecomAdapter implements PlatformAdapter {
  readonly name = "wecom";
  readonly capabilities = WECOM_CAPABILITIES;
  readonly #context: AdapterContext<WecomSettings>;
  #link: WecomLink | undefined;
  readonly #seen = new SeenIds(1000, 5 * 60_000);
  readonly #batcher: TextBatcher<MessageEvent>;
  /** Per chat, the hand-over of its messages in order (media downloads take time). */
  readonly #chains = new Map<string, Promise<void>>();
  readonly #errors: Record<string, number> = {};
  /** Messages handed to the gateway and not yet journaled (a stop waits for them). */
  readonly #emitting = new Set<Promise<void>>();
  /** Per reply part (idempotency key), how many of its messages went out: a retry skips them. */
  readonly #progress = new BoundedMap<string, number>(1000);
  /** Req_ids WeCom said are too old to answer on. */
  readonly #expired = new BoundedMap<string, true>(1000);
  #stopping = false;

  constructor(context: AdapterContext<WecomSettings>) {
    this.#context = context;
    const settings = context.settings;
    this.#batcher = new TextBatcher({
      delayMs: settings.text_batch_delay_seconds * 1000,
      splitDelayMs: settings.text_batch_split_delay_seconds * 1000,
      merge: mergeEvents,
      deliver: (event) => this.#emit(event),
    });
  }

  /** Claims the bot, then opens and subscribes its link with the bot's device_id. */
  async connect(): Promise<void> {
    const { settings, log, health } = this.#context;
    const { bot_id: botId, secret } = settings;
    if (!botId || !secret) {
      throw new ConfigError("WeCom needs a bot id and a secret: set WECOM_BOT_ID and WECOM_SECRET");
    }
    this.#stopping = false;
    this.#link?.stop();
    try {
      await this.#context.credentialLock(WECOM_LOCK_SCOPE, botId);
    } catch (error) {
      health.error("credential_in_use", (error as Error).message); // status says who has the bot
      throw error;
    }
    const deviceId = await deviceIdFor(stateOf(this.#context), botId, (why) => log.warn(why));
    // Stopped while waiting for the lock or the device_id: start nothing no one will stop.
    if (this.#stopping) throw new Error("WeCom was disconnected while connecting");
    const link = new WecomLink({
      url: settings.websocket_url,
      botId,
      secret,
      deviceId,
      heartbeatMs: settings.heartbeat_interval_seconds * 1000,
      heartbeatTimeoutMs: settings.heartbeat_timeout_seconds * 1000,
      idleResubscribeMs: settings.idle_resubscribe_seconds * 1000,
      supersededRetryMs: settings.superseded_retry_seconds * 1000,
      health,
      log,
      onMessage: (frame) => this.#received(frame),
      onErrcode: (errcode) => this.#count(String(errcode)),
    });
    this.#link = link;
    try {
      await link.start();
    } catch (error) {
      link.stop();
      if (error instanceof WecomRequestError && error.action === "fatal") {
        health.error(String(error.errcode), error.message);
        throw new ConfigError(
          `WeCom refused the bot's credentials (${error.message}); check WECOM_BOT_ID and WECOM_SECRET`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Stops the link (no new callbacks), then hands on what is still held
   * (messages whose files are being fetched, pieces waiting to be joined) and
   * waits until it is journaled, so nothing received is lost at a stop.
   */
  async disconnect(_reason: string): Promise<void> {
    this.#stopping = true;
    this.#link?.stop();
    await Promise.allSettled([...this.#chains.values()]);
    this.#batcher.flushAll();
    await Promise.allSettled([...this.#emitting]);
    this.#context.health.set("stopped");
  }

  /**
   * Sends a reply part: its files (uploaded, then sent), then its text. It
   * rides the answered message's req_id, or the chat's newest once that one
   * expired; a DM without one is written to proactively, a group waits for
   * its next message. A retry of a part skips what of it already went out.
   */
  async send(
    to: SessionSource,
    message: OutboundMessage,
    context: SendContext,
  ): Promise<SendResult> {
    const reqIds = this.#usableReqIds(context);
    if (reqIds.length === 0 && to.chatType === "group") return noReqIdInGroup();
    const notes: string[] = [];
    const steps: (() => Promise<Record<string, unknown>>)[] = [];
    for (const file of message.attachments ?? []) {
      const kind = outboundKind(file);
      if (kind.note) notes.push(`ℹ️ ${kind.note}`);
      steps.push(async () => {
        const mediaId = await this.#withResubscribe(() => this.#upload(file, kind.type));
        return { msgtype: kind.type, [kind.type]: { media_id: mediaId } };
      });
    }
    const text = [message.text, ...notes].filter((t) => t.trim() !== "").join("\n");
    if (text !== "") {
      steps.push(() => Promise.resolve({ msgtype: "markdown", markdown: { content: text } }));
    }
    const key = context.idempotencyKey;
    let sent: SendResult = { status: "sent", messageId: reqIds[0] ?? randomId() };
    for (let step = this.#progress.get(key) ?? 0; step < steps.length; step++) {
      sent = await this.#deliver(to, await steps[step]!(), reqIds);
      if (sent.status === "deferred") return sent;
      this.#progress.set(key, step + 1); // a retry of this part starts after it
    }
    this.#progress.delete(key);
    return sent;
  }

  health(): LinkHealth {
    return this.#context.health.snapshot();
  }

  /** The req_ids a send may ride, best first: the answered message's, then the chat's newest. */
  #usableReqIds(context: SendContext): string[] {
    const ids = [replyReqId(context.inReplyToContext), replyReqId(context.replyContext)];
    return [...new Set(ids)].filter((id): id is string =>
      id !== undefined && !this.#expired.has(id)
    );
  }

  /**
   * Sends one message body on the first req_id WeCom still takes, else
   * proactively in a DM; a group without one waits for its next message.
   */
  async #deliver(
    to: SessionSource,
    body: Record<string, unknown>,
    reqIds: readonly string[],
  ): Promise<SendResult> {
    let expired: WecomRequestError | undefined;
    for (const reqId of reqIds) {
      if (this.#expired.has(reqId)) continue;
      try {
        await this.#withResubscribe(() => this.#request("aibot_respond_msg", body, reqId));
        return this.#sent(reqId);
      } catch (error) {
        if (!(error instanceof WecomRequestError)) throw error;
        if (error.action === "defer_until_inbound") return waitForNext(error);
        if (error.action !== "reply_window_expired") throw error;
        this.#expired.set(reqId, true);
        expired = error;
      }
    }
    if (to.chatType === "group") return expired ? waitForNext(expired) : noReqIdInGroup();
    try {
      const ack = await this.#withResubscribe(() =>
        this.#request("aibot_send_msg", { chatid: to.chatId, ...body })
      );
      return this.#sent(ack.headers.req_id ?? randomId());
    } catch (error) {
      if (error instanceof WecomRequestError && error.action === "defer_until_inbound") {
        return waitForNext(error); // the chat was a group after all
      }
      throw error;
    }
  }

  #request(cmd: string, body: Record<string, unknown>, reqId?: string): Promise<WecomFrame> {
    const link = this.#link;
    if (!link) return Promise.reject(new Error("WeCom is not connected"));
    return link.request(cmd, body, reqId ? { reqId } : {});
  }

  /** Runs `send`; on 846609 subscribes again and runs it once more. */
  async #withResubscribe<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof WecomRequestError) || error.action !== "resubscribe") throw error;
      this.#context.health.error(String(error.errcode), error.message);
      try {
        await this.#link?.resubscribe(`errcode ${error.errcode} on ${error.cmd}`);
      } catch {
        throw error; // retryable: the outbox tries again once the link is back
      }
      return await send();
    }
  }

  async #upload(file: Attachment, type: string): Promise<string> {
    const bytes = await Deno.readFile(file.path);
    return await uploadMedia(
      (cmd, body) => this.#request(cmd, body),
      bytes,
      { type: type as "image", filename: file.name ?? file.path.split("/").pop() ?? "file" },
    );
  }

  #sent(messageId: string): SendResult {
    this.#context.health.sendOk();
    return { status: "sent", messageId };
  }

  #count(code: string): void {
    this.#errors[code] = (this.#errors[code] ?? 0) + 1;
    this.#context.health.detail("error_counts", { ...this.#errors });
  }

  /** A message callback: read, deduplicated, its files fetched, handed on in chat order. */
  #received(frame: WecomFrame): void {
    const { log, health } = this.#context;
    const reqId = frame.headers.req_id ?? "";
    const message = frame.body ? readCallback(frame.body, reqId) : undefined;
    if (!message) {
      return log.debug("skipped a WeCom callback with nothing to answer", { req_id: reqId });
    }
    // Per chat, as a JSON array: no id or name runs into the next part.
    const seenKey = JSON.stringify([message.chatType, message.chatId, message.messageId]);
    if (!this.#seen.add(seenKey, Date.now())) {
      return log.debug("skipped a repeated WeCom message", { msgid: message.messageId });
    }
    health.inbound(message.chatType);
    const chat = message.chatId;
    const before = this.#chains.get(chat) ?? Promise.resolve();
    const next = before.then(async () => {
      const event = await this.#event(message);
      const key = `${message.chatId}\u0000${message.userId}`;
      if (this.#stopping || event.attachments?.length || event.text.startsWith("/")) {
        this.#batcher.flush(key);
        this.#emit(event);
      } else {
        this.#batcher.add(key, event, event.text);
      }
    }).catch((error) => log.error("a WeCom message could not be handed on", { error }));
    this.#chains.set(chat, next);
    void next.then(() => {
      if (this.#chains.get(chat) === next) this.#chains.delete(chat);
    });
  }

  async #event(message: InboundMessage): Promise<MessageEvent> {
    const source: SessionSource = {
      platform: "wecom",
      chatType: message.chatType,
      chatId: message.chatId,
      userId: message.userId,
    };
    const receivedAt = this.#context.now().toISOString();
    return {
      messageId: message.messageId,
      source,
      text: message.text,
      receivedAt,
      senderName: message.userId,
      ...(message.reqId ? { replyContext: { req_id: message.reqId, at: receivedAt } } : {}),
      ...(message.replyToText ? { replyToText: message.replyToText } : {}),
      attachments: await this.#files(message),
    };
  }

  /** The files a message refers to; one that cannot be fetched is logged and left out. */
  async #files(message: InboundMessage): Promise<Attachment[]> {
    const { media, settings, log } = this.#context;
    const files: Attachment[] = [];
    for (const ref of message.media) {
      const decode = ref.aeskey
        ? (bytes: Uint8Array) => decryptMedia(bytes, ref.aeskey!)
        : undefined;
      try {
        if (ref.base64 !== undefined) {
          const bytes = fromBase64(ref.base64);
          files.push(await media.store(decode ? decode(bytes) : bytes, { name: ref.name }));
        } else if (ref.url) {
          files.push(
            await media.download(ref.url, {
              name: ref.name,
              decode,
              allowAddresses: settings.media_allow_addresses,
            }),
          );
        }
      } catch (error) {
        log.warn("left out a file of a WeCom message", { msgid: message.messageId, error });
      }
    }
    return files;
  }

  #emit(event: MessageEvent): void {
    const emitting = this.#context.emit(event).then(
      () => {},
      (error) =>
        this.#context.log.error("a WeCom message could not be journaled", {
          msgid: event.messageId,
          error,
        }),
    );
    this.#emitting.add(emitting);
    void emitting.finally(() => this.#emitting.delete(emitting));
  }
}

/** Sets `key` in a map kept to the newest 1,000 keys. */

/** Pieces of one long message, joined: the first id, the newest reply context. */
function mergeEvents(pieces: readonly MessageEvent[]): MessageEvent {
  const last = pieces[pieces.length - 1]!;
  return {
    ...pieces[0]!,
    text: pieces.map((p) => p.text).join("\n"),
    ...(last.replyContext !== undefined ? { replyContext: last.replyContext } : {}),
    attachments: pieces.flatMap((p) => p.attachments ?? []),
  };
}

function noReqIdInGroup(): SendResult {
  return {
    status: "deferred",
    until: "next_inbound",
    reason:
      "WeCom lets a bot write in a group only in answer to a message (600039): waiting for the group's next message",
  };
}

function waitForNext(error: WecomRequestError): SendResult {
  return { status: "deferred", until: "next_inbound", reason: error.message };
}

function randomId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 12);
}
