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
import { TelegramApi } from "./api.ts";
import { TelegramError } from "./errors.ts";
import {
  type BotIdentity,
  mayContinue,
  messageRuns,
  readUpdate,
  type TgFile,
  type TgUpdate,
} from "./inbound.ts";
import { readOffset, saveOffset } from "./offset_file.ts";
import { stateOf } from "../platform_state.ts";
import { ALLOWED_UPDATES, TelegramPoller } from "./poller.ts";
import type { TelegramSettings } from "./section.ts";
import { ChatRoutes } from "./chat_routes.ts";
import { SendProgress } from "./send_progress.ts";
import { TelegramSender } from "./sender.ts";
import { WebhookListener } from "./webhook.ts";
import { WebhookRuns } from "./webhook_runs.ts";
import { syncCommandMenus } from "./command_menus.ts";

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

/**
 * One Telegram bot.
 *
 * @example
 * ```ts
 * import type { AdapterContext } from "../adapter.ts";
 * import type { TelegramSettings } from "./section.ts";
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
  #sender: TelegramSender | undefined;
  #poller: TelegramPoller | undefined;
  #webhook: WebhookListener | undefined;
  /** Webhook updates gathered into messages (an album's items come as separate requests). */
  readonly #webhookRuns = new WebhookRuns((updates) => this.#take(updates));
  /** Stops the webhook's health checks. */
  #stopWatching: (() => void) | undefined;
  /** Bumped by every connect and disconnect: a connect that is no longer the latest stops. */
  #generation = 0;
  #me: BotIdentity | undefined;

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
    // A disconnect while this connect waits (it timed out) ends it: never two pollers at once.
    const generation = ++this.#generation;
    const current = () => {
      if (generation !== this.#generation) {
        throw new Error("Telegram was disconnected while connecting");
      }
    };
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
    await syncCommandMenus(api, this.#context.commandMenus, stateDir, log);
    current();
    this.#api = api;
    this.#sender = new TelegramSender(
      api,
      health,
      log,
      await SendProgress.load(stateOf(this.#context)),
      await ChatRoutes.load(stateOf(this.#context)),
    );
    if (settings.webhook_url) return await this.#listen(api, settings.webhook_url, current);
    health.detail("mode", "polling");
    // A webhook left set would answer every poll with 409; its pending updates are kept.
    await api.call("deleteWebhook", { drop_pending_updates: false });
    const botId = String(me.id);
    const offset = await readOffset(stateOf(this.#context), botId);
    current();
    // Subscribed once the first poll is answered or held (another poller may hold the updates).
    const poller = new TelegramPoller({
      api,
      offset,
      pollTimeoutS: settings.poll_timeout_seconds,
      stallMs: settings.stall_seconds * 1000,
      health,
      log,
      onBatch: (updates) => this.#take(updates),
      continues: mayContinue,
      saveOffset: (next) => saveOffset(stateOf(this.#context), botId, next),
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
    this.#generation++;
    this.#stopWatching?.();
    this.#stopWatching = undefined;
    await this.#poller?.stop();
    this.#poller = undefined;
    await this.#webhookRuns.flush();
    await this.#webhook?.close();
    this.#webhook = undefined;
    this.#api = undefined;
    this.#sender = undefined; // a stopped link sends nothing
    this.#context.health.set("stopped");
  }

  /** Sends a reply part (see {@linkcode TelegramSender.send}). */
  send(to: SessionSource, message: OutboundMessage, context: SendContext): Promise<SendResult> {
    return this.#connected().send(to, message, context);
  }

  /** Replaces the text of a sent message (see {@linkcode TelegramSender.edit}). */
  edit(
    to: SessionSource,
    messageId: string,
    message: OutboundMessage,
    context: SendContext,
  ): Promise<SendResult> {
    return this.#connected().edit(to, messageId, message, context);
  }

  /** Shows the reply so far as the DM's draft. */
  draft(to: SessionSource, draftId: string, text: string): Promise<void> {
    return this.#connected().draft(to, draftId, text);
  }

  /** Shows "typing…"; failures are ignored. */
  async typing(to: SessionSource): Promise<void> {
    await this.#sender?.typing(to);
  }

  /** The link's health now. */
  health(): LinkHealth {
    return this.#context.health.snapshot();
  }

  /** Listens for the webhook, then tells Telegram where it is. */
  async #listen(api: TelegramApi, url: string, current: () => void): Promise<void> {
    const { settings, health, log } = this.#context;
    const listener = WebhookListener.listen({
      hostname: settings.webhook_host,
      port: settings.webhook_port,
      path: new URL(url).pathname,
      secret: settings.webhook_secret!,
      log,
      // Telegram may deliver several at once: runs are taken one after another.
      onUpdate: (update) => this.#webhookRuns.add(update),
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
    current();
    health.set("subscribed");
    this.#watchWebhook(api, listener);
  }

  /**
   * Asks Telegram now and then whether its deliveries fail (a TLS error, a
   * proxy that does not forward): a listener that hears nothing is not a
   * healthy link.
   */
  #watchWebhook(api: TelegramApi, listener: WebhookListener): void {
    const { settings, health, log } = this.#context;
    const check = async () => {
      try {
        const info = await api.call<{
          last_error_date?: number;
          last_error_message?: string;
          pending_update_count?: number;
        }>("getWebhookInfo");
        health.detail("pending_updates", info.pending_update_count ?? 0);
        const failedAt = (info.last_error_date ?? 0) * 1000;
        if (failedAt > listener.lastReceivedAt) {
          health.error(
            "webhook_failing",
            `Telegram cannot deliver to the webhook: ${
              info.last_error_message ?? "no reason given"
            } (${
              info.pending_update_count ?? 0
            } update(s) waiting); check the URL, its TLS certificate and the proxy in front`,
          );
          if (health.state === "subscribed" || health.state === "receiving") health.set("degraded");
        } else if (health.state === "degraded") {
          health.set("subscribed");
        }
      } catch (error) {
        log.debug("getWebhookInfo failed", { error });
      }
    };
    const timer = setInterval(check, settings.webhook_check_seconds * 1000);
    this.#stopWatching = () => clearInterval(timer);
  }

  #connected(): TelegramSender {
    if (this.#sender) return this.#sender;
    throw new PlatformError("Telegram is not connected", {
      platform: "telegram",
      code: "not_connected",
      retryable: true,
    });
  }

  /**
   * Hands on a batch in order, an album or a split text as one message;
   * resolves once each is journaled or skipped.
   */
  async #take(updates: readonly TgUpdate[]): Promise<void> {
    const { emit, log, health, settings } = this.#context;
    const me = this.#me!;
    for (const run of messageRuns(updates)) {
      const [first, ...rest] = run as [TgUpdate, ...TgUpdate[]];
      const membership = first.my_chat_member;
      if (membership) {
        const status = membership.new_chat_member.status;
        this.#sender?.markBlocked(
          String(membership.chat.id),
          status === "kicked" || status === "left",
        );
        continue;
      }
      const service = first.message;
      if (
        service?.migrate_to_chat_id !== undefined || service?.migrate_from_chat_id !== undefined
      ) {
        // A group became a supergroup: sends follow it, and its sessions keep the group's id.
        await this.#sender?.migrated(
          String(service.migrate_from_chat_id ?? service.chat.id),
          String(service.migrate_to_chat_id ?? service.chat.id),
        );
        continue;
      }
      if (service?.chat.is_forum) this.#sender?.noteForum(String(service.chat.id));
      const origin = (chatId: string) => this.#sender?.origin(chatId) ?? chatId;
      const reading = readUpdate(first, me, { requireMention: settings.require_mention, origin });
      if (reading.kind === "skip") {
        log.debug("Telegram update skipped", { update_id: first.update_id, why: reading.why });
        continue;
      }
      // The rest of the message counts as addressed when its first piece was.
      const pieces = [
        reading,
        ...rest.map((u) => readUpdate(u, me, { requireMention: false, origin })),
      ]
        .filter((r) => r.kind === "event");
      const joiner = first.message?.media_group_id ? "\n" : "";
      const files = await this.#fetchFiles(pieces.flatMap((p) => p.files));
      const message = (run: typeof pieces) => {
        const fileIds = new Set(run.flatMap((p) => p.files.map((f) => f.fileId)));
        const attachments = files.filter((f) => fileIds.has(f.fileId)).map((f) => f.attachment);
        return {
          ...run[0]!.event,
          text: run.map((p) => p.event.text).filter((t) => t !== "").join(joiner),
          ...(attachments.length > 0 ? { attachments } : {}),
          ...(run.length > 1 ? { joinedIds: run.slice(1).map((p) => p.event.messageId) } : {}),
        };
      };
      // Some of it was journaled before (a crash cost the offset, or the 200s): each piece goes
      // alone, and only those not seen are answered.
      const whole = await emit(message(pieces));
      const alone = whole === "duplicate" && pieces.length > 1 ? pieces : [];
      for (const piece of alone) await emit(message([piece]));
      health.inbound(reading.event.source.chatType);
    }
  }

  /** Fetches a message's files into the media store; one that cannot be fetched is logged and left out. */
  async #fetchFiles(
    files: readonly TgFile[],
  ): Promise<{ fileId: string; attachment: Attachment }[]> {
    const api = this.#api;
    if (!api || files.length === 0) return [];
    const { media, log, settings } = this.#context;
    const attachments: { fileId: string; attachment: Attachment }[] = [];
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
        attachments.push({
          fileId: file.fileId,
          attachment: file.kind === "voice" ? { ...stored, kind: "voice" } : stored,
        });
      } catch (error) {
        log.warn("A Telegram file could not be fetched; the message goes on without it", {
          kind: file.kind,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return attachments;
  }
}
