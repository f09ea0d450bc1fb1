/**
 * The Telegram adapter: one bot, by long polling (`poller.ts`). Each update
 * is read (`inbound.ts`), its files fetched into the media store, and handed
 * on in order; the next poll, which confirms the batch to Telegram, waits
 * until every update of it is journaled. Replies go out with sendMessage
 * (edits with editMessageText), and what Telegram refuses is acted on by
 * its table (`errors.ts`): a thread that is gone is dropped, a group that
 * became a supergroup is followed, a 429 waits `retry_after`, a block is
 * never retried.
 *
 * @module
 */

import { ConfigError, PlatformError } from "../../errors.ts";
import type { AdapterContext, Capabilities, PlatformAdapter } from "../adapter.ts";
import type {
  Attachment,
  OutboundMessage,
  SendContext,
  SendResult,
  SessionSource,
} from "../event.ts";
import type { LinkHealth } from "../health.ts";
import { TelegramApi, type UploadFile } from "./api.ts";
import { TelegramError } from "./errors.ts";
import { type BotIdentity, readUpdate, type TgFile, type TgUpdate } from "./inbound.ts";
import { readOffset, saveOffset } from "./offset_file.ts";
import { telegramMessages, type TelegramText } from "./format.ts";
import { ALLOWED_UPDATES, TelegramPoller } from "./poller.ts";
import type { TelegramSettings } from "./section.ts";
import { WebhookListener } from "./webhook.ts";

/** The credential lock scope of a bot token. */
export const TELEGRAM_LOCK_SCOPE = "telegram-bot-token";

/** What a Telegram bot can do. */
export const TELEGRAM_CAPABILITIES: Capabilities = {
  // A group sees a message edited as the reply grows; a DM sees Telegram's own draft.
  streaming: "edit",
  draftIn: ["dm"],
  maxMessageLength: 4096,
  lengthUnit: "utf16",
  typing: true,
  proactive: { dm: true, group: true },
  media: { in: ["image", "file", "voice"], out: ["image", "file"] },
  // About one message a second per chat, edits included; about 30 a second in all.
  rate: { perChatPerSecond: 1, globalPerSecond: 30 },
};

/** Downloads stop at 20 MB on Telegram's side. */
const MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024;
/** Larger images go as documents. */
const MAX_PHOTO_BYTES = 10 * 1024 * 1024;
/** An upload of up to 50 MB may take a while. */
const UPLOAD_TIMEOUT_MS = 120_000;

/**
 * One Telegram bot.
 *
 * @example
 * ```ts
 * import type { AdapterContext } from "../adapter.ts";
 * import type { TelegramSettings } from "./section.ts";
import { WebhookListener } from "./webhook.ts";
 * declare const context: AdapterContext<TelegramSettings>; // what the gateway hands the adapter
 *
 * const adapter = new TelegramAdapter(context);
 * await adapter.connect(); // polling
 * ```
 */
export class TelegramAdapter implements PlatformAdapter {
  /** The platform's name. */
  readonly name = "telegram";
  /** What a Telegram bot can do: {@linkcode TELEGRAM_CAPABILITIES}. */
  readonly capabilities = TELEGRAM_CAPABILITIES;
  readonly #context: AdapterContext<TelegramSettings>;
  #api: TelegramApi | undefined;
  #poller: TelegramPoller | undefined;
  #webhook: WebhookListener | undefined;
  #me: BotIdentity | undefined;
  /** Groups that became supergroups: old chat id → new (sends follow them). */
  readonly #migrated = new Map<string, string>();
  /** Chats whose user blocked the bot (or that removed it). */
  readonly #blocked = new Set<string>();
  /** Per reply part being sent, how many of its messages went out (a retry skips them). */
  readonly #stepsSent = new Map<string, number>();

  /** Reads the settings; nothing is claimed or polled until {@linkcode connect}. */
  constructor(context: AdapterContext<TelegramSettings>) {
    this.#context = context;
  }

  /**
   * Claims the token, asks Telegram who the bot is, ends any webhook (its
   * pending updates kept) and starts polling from the saved offset.
   */
  async connect(): Promise<void> {
    const { settings, health, log, stateDir } = this.#context;
    const token = settings.bot_token;
    if (!token) {
      throw new PlatformError("Telegram needs TELEGRAM_BOT_TOKEN (telegram.bot_token)", {
        platform: "telegram",
        code: "no_token",
        retryable: false,
      });
    }
    await this.#poller?.stop();
    try {
      await this.#context.credentialLock(TELEGRAM_LOCK_SCOPE, token);
    } catch (error) {
      health.error("credential_in_use", (error as Error).message);
      throw error;
    }
    const api = new TelegramApi({
      token,
      baseUrl: settings.api_base_url,
      fetch: this.#context.fetch,
    });
    let me: BotIdentity & { can_read_all_group_messages?: boolean };
    try {
      me = await api.call("getMe");
    } catch (error) {
      if (error instanceof TelegramError && error.action === "unauthorized") {
        // Retrying cannot help: the start fails until the operator changes the token.
        throw new ConfigError(
          `Telegram refused the bot token (${error.description}): set TELEGRAM_BOT_TOKEN (telegram.bot_token) to the token @BotFather gave`,
          { cause: error },
        );
      }
      throw error;
    }
    this.#me = { id: me.id, username: me.username };
    health.detail("bot", `@${me.username}`);
    if (settings.require_mention && me.can_read_all_group_messages === false) {
      log.warn(
        "Privacy mode is on: in groups Telegram may not deliver plain @mentions, only commands and replies to the bot; turn it off with @BotFather /setprivacy (then re-add the bot) or make the bot an admin",
      );
    }
    await this.#setCommands(api);
    this.#api = api;
    if (settings.webhook_url) return await this.#listen(api, settings.webhook_url);
    health.detail("mode", "polling");
    // A webhook left set would answer every poll with 409; its pending updates are kept.
    await api.call("deleteWebhook", { drop_pending_updates: false });
    const botId = String(me.id);
    const offset = await readOffset(stateDir, botId);
    health.set("subscribed");
    const poller = new TelegramPoller({
      api,
      offset,
      pollTimeoutS: settings.poll_timeout_seconds,
      stallMs: settings.stall_seconds * 1000,
      health,
      log,
      onBatch: (updates) => this.#take(updates),
      saveOffset: (next) => saveOffset(stateDir, botId, next),
      onUnauthorized: (error) =>
        log.error("Telegram refused the bot token; polling stopped", { error }),
    });
    this.#poller = poller;
    poller.start();
  }

  /**
   * Stops polling once the batch under way is journaled and its offset
   * saved (or the webhook listener once the updates being journaled are
   * answered; the webhook stays set, so Telegram keeps what comes meanwhile).
   */
  async disconnect(_reason: string): Promise<void> {
    await this.#poller?.stop();
    this.#poller = undefined;
    await this.#webhook?.close();
    this.#webhook = undefined;
    this.#api = undefined; // a stopped link sends nothing
    this.#context.health.set("stopped");
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
    const api = this.#connected();
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
    this.#context.health.sendOk();
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
    const api = this.#connected();
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
    this.#context.health.sendOk();
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
      this.#context.log.warn("Telegram refused the formatting; sending the reply as plain text", {
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
    const api = this.#connected();
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
    if (!api) return;
    try {
      await api.call("sendChatAction", {
        chat_id: this.#chatOf(to),
        action: "typing",
        // In a forum, General (1) must be named here, though sends leave it out.
        ...(to.threadId ? { message_thread_id: Number(to.threadId) } : {}),
      });
    } catch (error) {
      this.#context.log.debug("Telegram typing failed", { error });
    }
  }

  /** The link's health now. */
  health(): LinkHealth {
    return this.#context.health.snapshot();
  }

  /** Listens for the webhook, then tells Telegram where it is. */
  async #listen(api: TelegramApi, url: string): Promise<void> {
    const { settings, health, log } = this.#context;
    const listener = WebhookListener.listen({
      hostname: settings.webhook_host,
      port: settings.webhook_port,
      path: new URL(url).pathname,
      secret: settings.webhook_secret!,
      log,
      onUpdate: (update) => this.#take([update]),
    });
    this.#webhook = listener;
    health.detail("mode", "webhook");
    health.detail("webhook_port", listener.port);
    await api.call("setWebhook", {
      url,
      secret_token: settings.webhook_secret,
      allowed_updates: ALLOWED_UPDATES,
      drop_pending_updates: false,
    });
    health.set("subscribed");
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
          this.#context.log.info("A Telegram group became a supergroup; sending there", {
            from: to.chatId,
            to: error.migrateToChatId,
          });
          continue;
        }
        throw this.#noted(error, to);
      }
    }
  }

  #noted(error: unknown, to: SessionSource): unknown {
    if (!(error instanceof TelegramError)) return error;
    const { health } = this.#context;
    health.error(`${error.method}:${error.platformCode}`, error.description);
    if (error.action === "blocked") {
      this.#blocked.add(to.chatId);
      health.detail("undeliverable_chats", [...this.#blocked]);
    }
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

  #connected(): TelegramApi {
    if (this.#api) return this.#api;
    throw new PlatformError("Telegram is not connected", {
      platform: "telegram",
      code: "not_connected",
      retryable: true,
    });
  }

  /** Hands on a batch in order; resolves once each update is journaled or skipped. */
  async #take(updates: readonly TgUpdate[]): Promise<void> {
    const { emit, log, health, settings } = this.#context;
    const me = this.#me!;
    for (const update of updates) {
      const reading = readUpdate(update, me, { requireMention: settings.require_mention });
      if (reading.kind === "skip") {
        log.debug("Telegram update skipped", { update_id: update.update_id, why: reading.why });
        continue;
      }
      const attachments = await this.#fetchFiles(reading.files);
      await emit(attachments.length > 0 ? { ...reading.event, attachments } : reading.event);
      health.inbound(reading.event.source.chatType);
    }
  }

  /** Fetches a message's files into the media store; one that cannot be fetched is logged and left out. */
  async #fetchFiles(files: readonly TgFile[]): Promise<Attachment[]> {
    const api = this.#api;
    if (!api || files.length === 0) return [];
    const { media, log, settings } = this.#context;
    const attachments: Attachment[] = [];
    for (const file of files) {
      try {
        if ((file.size ?? 0) > MAX_DOWNLOAD_BYTES) {
          throw new Error("over Telegram's 20 MB download limit");
        }
        const found = await api.call<{ file_path?: string }>("getFile", { file_id: file.fileId });
        if (!found.file_path) throw new Error("getFile gave no file_path");
        const url = api.fileUrl(found.file_path);
        const stored = await media.download(url, {
          allowHosts: [new URL(settings.api_base_url).hostname],
          allowAddresses: settings.media_allow_addresses,
          ...(file.name ? { name: file.name } : {}),
        });
        attachments.push(file.kind === "voice" ? { ...stored, kind: "voice" } : stored);
      } catch (error) {
        log.warn("A Telegram file could not be fetched; the message goes on without it", {
          kind: file.kind,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return attachments;
  }

  /** Lists the slash commands users may type in Telegram's command menu (best effort). */
  async #setCommands(api: TelegramApi): Promise<void> {
    const commands = this.#context.commands
      .filter((c) => /^[a-z0-9_]{1,32}$/.test(c.name))
      .slice(0, 100)
      .map((c) => ({ command: c.name, description: (c.summary || c.name).slice(0, 256) }));
    if (commands.length === 0) return;
    try {
      await api.call("setMyCommands", { commands });
    } catch (error) {
      this.#context.log.warn("Telegram did not take the command list", { error });
    }
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
