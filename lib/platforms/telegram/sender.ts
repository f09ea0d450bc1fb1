/**
 * What the Telegram adapter sends: reply parts (files, then text as
 * Telegram HTML with a plain-text fallback), edits, drafts and typing, and
 * what it does about each refusal by the table of `errors.ts`: a thread
 * that is gone is dropped, a group that became a supergroup is followed,
 * a block marks the chat and is never retried, a 429 is counted as a flood
 * wait and left to the outbox, which waits `retry_after`.
 *
 * @module
 */

import { PlatformError } from "../../errors.ts";
import type { Logger } from "../../util/log.ts";
import type { OutboundMessage, SendContext, SendResult, SessionSource } from "../event.ts";
import type { LinkHealthTracker } from "../health.ts";
import type { TelegramApi, UploadFile } from "./api.ts";
import { TelegramError } from "./errors.ts";
import { telegramMessages, type TelegramText } from "./format.ts";

/** Larger images go as documents. */
const MAX_PHOTO_BYTES = 10 * 1024 * 1024;
/** An upload of up to 50 MB may take a while. */
const UPLOAD_TIMEOUT_MS = 120_000;

/**
 * Sends for one connected bot.
 *
 * @example
 * ```ts
 * import type { Logger } from "../../util/log.ts";
 * import { LinkHealthTracker } from "../health.ts";
 * import { TelegramApi } from "./api.ts";
 * declare const log: Logger;
 *
 * const sender = new TelegramSender(new TelegramApi({ token: "123456:ABC-secret" }), new LinkHealthTracker(), log);
 * await sender.send(
 *   { platform: "telegram", chatType: "dm", chatId: "42", userId: "42" },
 *   { text: "**Done**", format: "markdown", final: true },
 *   { idempotencyKey: "inbound:7#0", attempt: 1 },
 * );
 * ```
 */
export class TelegramSender {
  readonly #api: TelegramApi;
  readonly #health: LinkHealthTracker;
  readonly #log: Logger;
  /** Groups that became supergroups: old chat id → new (sends follow them). */
  readonly #migrated = new Map<string, string>();
  /** Chats whose user blocked the bot (or that removed it). */
  readonly #blocked = new Set<string>();
  /** Per reply part being sent, how many of its messages went out (a retry skips them). */
  readonly #stepsSent = new Map<string, number>();

  constructor(api: TelegramApi, health: LinkHealthTracker, log: Logger) {
    this.#api = api;
    this.#health = health;
    this.#log = log;
  }

  /**
   * Sends a reply part: its files first (an image up to 10 MB with
   * sendPhoto, anything else with sendDocument), then its text, markdown as
   * Telegram HTML (as plain text when Telegram refuses the HTML), in as
   * many messages as Telegram's 4,096 characters take. A retry of the part
   * skips what of it already went out in this run.
   */
  async send(
    to: SessionSource,
    message: OutboundMessage,
    context: SendContext,
  ): Promise<SendResult> {
    const api = this.#api;
    const steps: (() => Promise<{ message_id: number }>)[] = [];
    for (const file of message.attachments ?? []) {
      steps.push(async () => {
        const bytes = await Deno.readFile(file.path);
        const field = file.kind === "image" && bytes.length <= MAX_PHOTO_BYTES
          ? "photo"
          : "document";
        return await this.#deliver(
          api,
          field === "photo" ? "sendPhoto" : "sendDocument",
          to,
          replyTo(context),
          { [field]: { bytes, name: file.name ?? baseName(file.path), mime: file.mime } },
        ) as { message_id: number };
      });
    }
    const texts = message.text.trim() === "" && steps.length > 0 ? [] : telegramMessages(message);
    for (const text of texts) {
      steps.push(() => this.#sendText(api, to, text, replyTo(context)));
    }
    const key = context.idempotencyKey;
    let last: { message_id: number } | undefined;
    try {
      for (let step = this.#stepsSent.get(key) ?? 0; step < steps.length; step++) {
        last = await steps[step]!();
        this.#stepsSent.set(key, step + 1);
      }
    } catch (error) {
      // Only a retry of the part needs to know what of it went out.
      if (!(error instanceof PlatformError && error.retryable)) this.#stepsSent.delete(key);
      throw error;
    }
    this.#stepsSent.delete(key);
    this.#health.sendOk();
    return { status: "sent", messageId: last ? String(last.message_id) : "" };
  }

  /**
   * Replaces the text of a sent message: a preview as plain text (half a
   * reply's markdown may not parse), the final text formatted. "Not
   * modified" is a success.
   */
  async edit(
    to: SessionSource,
    messageId: string,
    message: OutboundMessage,
    context: SendContext,
  ): Promise<SendResult> {
    const [text] = telegramMessages(message.final ? message : { text: message.text });
    if (!text) return { status: "sent", messageId };
    // Telegram refuses an edit that changes nothing; a formatted final still changes the look.
    const unformatted = text.parseMode === undefined || !/<[a-z]/.test(text.text);
    if (context.shownText === message.text && unformatted) return { status: "sent", messageId };
    const api = this.#api;
    const call = (body: string, parseMode?: string) =>
      this.#deliver(api, "editMessageText", to, {
        message_id: Number(messageId),
        text: body,
        ...(parseMode ? { parse_mode: parseMode } : {}),
      });
    try {
      try {
        await call(text.text, text.parseMode);
      } catch (error) {
        if (!(error instanceof TelegramError && error.action === "plain_fallback")) throw error;
        await call(text.fallback.join("\n"));
      }
    } catch (error) {
      if (!(error instanceof TelegramError && error.action === "not_modified")) throw error;
    }
    this.#health.sendOk();
    return { status: "sent", messageId };
  }

  /** Sends one message of text, formatted; as plain text when Telegram cannot parse it. */
  async #sendText(
    api: TelegramApi,
    to: SessionSource,
    text: TelegramText,
    reply: Record<string, unknown>,
  ): Promise<{ message_id: number }> {
    try {
      return await this.#deliver(api, "sendMessage", to, {
        text: text.text,
        ...(text.parseMode ? { parse_mode: text.parseMode } : {}),
        ...reply,
      }) as { message_id: number };
    } catch (error) {
      if (!(error instanceof TelegramError && error.action === "plain_fallback")) throw error;
      this.#log.warn("Telegram refused the formatting; sending the reply as plain text", {
        error: error.description,
      });
      let last: { message_id: number } | undefined;
      for (const plain of text.fallback) {
        last = await this.#deliver(api, "sendMessage", to, { text: plain, ...reply }) as {
          message_id: number;
        };
      }
      return last!;
    }
  }

  /**
   * Shows the reply so far as the DM's draft (`sendMessageDraft`: a preview
   * that animates in place and fades after about 30 s; the final text is
   * sent as a message).
   */
  async draft(to: SessionSource, draftId: string, text: string): Promise<void> {
    const api = this.#api;
    await api.call("sendMessageDraft", {
      chat_id: this.#chatOf(to),
      draft_id: draftNumber(draftId),
      text: text.slice(0, 4096),
      ...(to.threadId ? { message_thread_id: Number(to.threadId) } : {}),
    });
  }

  /** Shows "typing…" for about 5 s (the turn refreshes it); failures are ignored. */
  async typing(to: SessionSource): Promise<void> {
    const api = this.#api;
    try {
      await api.call("sendChatAction", {
        chat_id: this.#chatOf(to),
        action: "typing",
        // In a forum, General (1) must be named here, though sends leave it out.
        ...(to.threadId ? { message_thread_id: Number(to.threadId) } : {}),
      });
    } catch (error) {
      this.#log.debug("Telegram typing failed", { error });
    }
  }

  /** Calls a send method, following a migration and dropping a thread that is gone. */
  async #deliver(
    api: TelegramApi,
    method: string,
    to: SessionSource,
    params: Record<string, unknown>,
    files?: Readonly<Record<string, UploadFile>>,
  ): Promise<unknown> {
    let thread = to.threadId && to.threadId !== "1" ? Number(to.threadId) : undefined;
    for (let tries = 0;; tries++) {
      const chat = this.#chatOf(to);
      try {
        return await api.call(method, {
          chat_id: chat,
          ...params,
          ...(thread !== undefined ? { message_thread_id: thread } : {}),
        }, files ? { files, timeoutMs: UPLOAD_TIMEOUT_MS } : {});
      } catch (error) {
        if (!(error instanceof TelegramError) || tries >= 2) throw this.#noted(error, to);
        if (error.action === "drop_thread" && thread !== undefined) {
          thread = undefined;
          continue;
        }
        if (error.action === "migrate" && error.migrateToChatId !== undefined) {
          this.#migrated.set(to.chatId, String(error.migrateToChatId));
          this.#log.info("A Telegram group became a supergroup; sending there", {
            from: to.chatId,
            to: error.migrateToChatId,
          });
          continue;
        }
        throw this.#noted(error, to);
      }
    }
  }

  /** Records that chat `chatId` blocked or removed the bot (or let it back). */
  markBlocked(chatId: string, blocked: boolean): void {
    if (blocked) this.#blocked.add(chatId);
    else this.#blocked.delete(chatId);
    this.#health.detail("undeliverable_chats", [...this.#blocked]);
  }

  #noted(error: unknown, to: SessionSource): unknown {
    if (!(error instanceof TelegramError)) return error;
    const health = this.#health;
    health.error(`${error.method}:${error.platformCode}`, error.description);
    if (error.action === "blocked") this.markBlocked(to.chatId, true);
    if (error.action === "retry_after") {
      const waits = (health.snapshot().details.flood_waits ?? { count: 0, longest_ms: 0 }) as {
        count: number;
        longest_ms: number;
      };
      health.detail("flood_waits", {
        count: waits.count + 1,
        longest_ms: Math.max(waits.longest_ms, error.retryAfterMs ?? 0),
      });
    }
    return error;
  }

  #chatOf(to: SessionSource): number | string {
    const chat = this.#migrated.get(to.chatId) ?? to.chatId;
    return /^-?\d+$/.test(chat) ? Number(chat) : chat;
  }
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** A draft's non-zero number, the same for the same key (the draft then animates in place). */
function draftNumber(key: string): number {
  let hash = 0;
  for (const char of key) hash = (Math.imul(hash, 31) + char.codePointAt(0)!) | 0;
  return (hash & 0x7fffffff) || 1;
}

/** The reply parameters of a part that answers a message (kept when that message is gone). */
function replyTo(context: SendContext): Record<string, unknown> {
  const id = context.inReplyTo?.split(":")[1];
  if (!id || !/^\d+$/.test(id)) return {};
  return { reply_parameters: { message_id: Number(id), allow_sending_without_reply: true } };
}
