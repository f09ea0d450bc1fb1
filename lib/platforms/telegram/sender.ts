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
import { BoundedMap } from "../../util/bounded_map.ts";
import type {
  Attachment,
  OutboundMessage,
  SendContext,
  SendResult,
  SessionSource,
} from "../event.ts";
import type { LinkHealthTracker } from "../health.ts";
import type { TelegramApi, UploadFile } from "./api.ts";
import { TelegramError } from "./errors.ts";
import { telegramMessages } from "./format.ts";
import { ChatRoutes } from "./chat_routes.ts";
import { type Progress, SendProgress } from "./send_progress.ts";

/** One Telegram call of a reply part: a file, or one message of its text (an edit, for the first of an edited part). */
type Step =
  | { readonly kind: "file"; readonly file: Attachment }
  | {
    readonly kind: "text";
    readonly text: string;
    readonly parseMode?: "HTML";
    /** Which message of the part's text it is (its plain pieces share it). */
    readonly index: number;
    readonly editOf?: number;
  };

/**
 * The steps of a part, the same on every try: a new part's files then its
 * messages; an edited part's first message (unless it shows that already),
 * then its files, then its other messages. A message in `plain` is its
 * plain pieces instead.
 */
function partSteps(
  message: OutboundMessage,
  plain: readonly number[],
  edit: { id: number; shown: string | undefined } | undefined,
): Step[] {
  // A preview is plain text: half a reply's markdown may not parse.
  const texts = telegramMessages(message.final || !edit ? message : { text: message.text });
  const files: Step[] = (message.attachments ?? []).map((file) => ({ kind: "file", file }));
  const messages: Step[] = texts.flatMap((text, index) => {
    const editOf = edit && index === 0 ? edit.id : undefined;
    if (plain.includes(index)) {
      return text.fallback.map((piece, j): Step => ({
        kind: "text",
        text: piece,
        index,
        ...(j === 0 && editOf !== undefined ? { editOf } : {}),
      }));
    }
    return [{
      kind: "text",
      text: text.text,
      ...(text.parseMode ? { parseMode: text.parseMode } : {}),
      index,
      ...(editOf !== undefined ? { editOf } : {}),
    }];
  });
  if (!edit) {
    return message.text.trim() === "" && files.length > 0 ? files : [...files, ...messages];
  }
  const [head, ...rest] = messages;
  // Telegram refuses an edit that changes nothing; a formatted final still changes the look.
  const unchanged = head?.kind === "text" && edit.shown === message.text &&
    (head.parseMode === undefined || !/<[a-z]/.test(head.text));
  return [...(head && !unchanged ? [head] : []), ...files, ...rest];
}

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
  /** Groups that became supergroups, and chats that blocked the bot: kept across restarts. */
  readonly #routes: ChatRoutes;
  /** Per reply part being sent: how many of its steps went out, and which fell back to plain. */
  readonly #progress: SendProgress;
  /** Sends whose outcome is unknown, so far. */
  #uncertain = 0;
  /** Forums heard from lately: their General topic must be named for typing to show. */
  readonly #forums = new BoundedMap<string, true>(10_000);

  /** `progress` keeps half-sent parts, `routes` what was learned of chats (default: in memory only). */
  constructor(
    api: TelegramApi,
    health: LinkHealthTracker,
    log: Logger,
    progress: SendProgress = SendProgress.inMemory(),
    routes: ChatRoutes = ChatRoutes.inMemory(),
  ) {
    this.#api = api;
    this.#health = health;
    this.#log = log;
    this.#progress = progress;
    this.#routes = routes;
    if (routes.blocked.length > 0) health.detail("undeliverable_chats", routes.blocked);
  }

  /**
   * Sends a reply part: its files first (an image up to 10 MB with
   * sendPhoto, anything else with sendDocument), then its text, markdown as
   * Telegram HTML, in as many messages as Telegram's 4,096 characters take.
   * Answers the id of the part's first message.
   */
  async send(
    to: SessionSource,
    message: OutboundMessage,
    context: SendContext,
  ): Promise<SendResult> {
    const id = await this.#run(to, message, context, undefined);
    return { status: "sent", messageId: id ?? "" };
  }

  /**
   * Replaces the text of a sent message: a preview as plain text (half a
   * reply's markdown may not parse), the final text formatted, and what of
   * it does not fit in one message (and its files) sent after it. "Not
   * modified" is a success.
   */
  async edit(
    to: SessionSource,
    messageId: string,
    message: OutboundMessage,
    context: SendContext,
  ): Promise<SendResult> {
    await this.#run(to, message, context, { id: Number(messageId), shown: context.shownText });
    return { status: "sent", messageId };
  }

  /**
   * Runs the steps of a part from where an earlier try of it stopped. A
   * message whose formatting Telegram refuses is replaced by its plain
   * text; a step whose outcome is unknown (a timeout after the request
   * left) counts as done, logged, since trying it again could show it twice.
   */
  async #run(
    to: SessionSource,
    message: OutboundMessage,
    context: SendContext,
    edit: { id: number; shown: string | undefined } | undefined,
  ): Promise<string | undefined> {
    const key = context.idempotencyKey;
    const progress = this.#progress.get(key) ?? { done: 0, plain: [] };
    let first: string | undefined = edit ? String(edit.id) : undefined;
    for (;;) {
      const steps = partSteps(message, progress.plain, edit);
      const step = steps[progress.done];
      if (!step) break;
      try {
        const id = await this.#step(step, to, context);
        first ??= id;
      } catch (error) {
        if (!this.#overcome(error, step, progress, to)) {
          // Only a retry of the part needs to know what of it went out.
          if (error instanceof PlatformError && error.retryable) await this.#keep(key, progress);
          else await this.#forget(key);
          throw error;
        }
        if (step.kind === "text" && progress.plain.includes(step.index) && step.parseMode) continue;
      }
      progress.done++;
      // Kept on disk while a part is half sent, so a restart sends none of its steps again.
      if (progress.done < partSteps(message, progress.plain, edit).length) {
        await this.#keep(key, progress);
      }
    }
    await this.#forget(key);
    this.#health.sendOk();
    return first;
  }

  async #keep(key: string, progress: Progress): Promise<void> {
    try {
      await this.#progress.set(key, progress);
    } catch (error) {
      this.#log.warn(
        "How far a Telegram reply got could not be saved; a restart may repeat some of it",
        {
          error,
        },
      );
    }
  }

  async #forget(key: string): Promise<void> {
    try {
      await this.#progress.delete(key);
    } catch (error) {
      this.#log.warn("A finished Telegram reply could not be struck from the send progress", {
        error,
      });
    }
  }

  /** One Telegram call of a part; answers the message id it made. */
  async #step(step: Step, to: SessionSource, context: SendContext): Promise<string | undefined> {
    const api = this.#api;
    if (step.kind === "file") {
      const bytes = await Deno.readFile(step.file.path);
      const field = step.file.kind === "image" && bytes.length <= MAX_PHOTO_BYTES
        ? "photo"
        : "document";
      const sent = await this.#deliver(
        api,
        field === "photo" ? "sendPhoto" : "sendDocument",
        to,
        replyTo(context),
        {
          [field]: {
            bytes,
            name: step.file.name ?? baseName(step.file.path),
            mime: step.file.mime,
          },
        },
      ) as { message_id: number };
      return String(sent.message_id);
    }
    const formatting = step.parseMode ? { parse_mode: step.parseMode } : {};
    if (step.editOf !== undefined) {
      await this.#deliver(api, "editMessageText", to, {
        message_id: step.editOf,
        text: step.text,
        ...formatting,
      });
      return String(step.editOf);
    }
    const sent = await this.#deliver(api, "sendMessage", to, {
      text: step.text,
      ...formatting,
      ...replyTo(context),
    }) as { message_id: number };
    return String(sent.message_id);
  }

  /** Whether the failure of `step` is dealt with (the part goes on); records how. */
  #overcome(error: unknown, step: Step, progress: Progress, to: SessionSource): boolean {
    if (error instanceof Deno.errors.NotFound && step.kind === "file") {
      this.#log.warn("A reply's file is gone; the reply goes on without it", {
        path: step.file.path,
      });
      return true;
    }
    if (!(error instanceof TelegramError)) return false;
    if (step.kind === "text" && error.action === "plain_fallback" && step.parseMode) {
      this.#log.warn("Telegram refused the formatting; sending that message as plain text", {
        error: error.description,
      });
      progress.plain.push(step.index);
      return true;
    }
    if (step.kind === "text" && step.editOf !== undefined && error.action === "not_modified") {
      return true;
    }
    if (error.delivery === "unknown" && !error.retryable) {
      this.#uncertain++;
      this.#health.detail("uncertain_sends", this.#uncertain);
      this.#log.warn("A Telegram send may or may not have arrived; it is not sent again", {
        chat: to.chatId,
        method: error.method,
        error: error.description,
      });
      return true;
    }
    return false;
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
      text: withinLimit(text, 4096),
      ...(to.threadId ? { message_thread_id: Number(to.threadId) } : {}),
    });
  }

  /** Notes that chat `chatId` is a forum (a supergroup with topics). */
  noteForum(chatId: string): void {
    this.#forums.set(chatId, true);
  }

  /** Shows "typing…" for about 5 s (the turn refreshes it); failures are ignored. */
  async typing(to: SessionSource): Promise<void> {
    const api = this.#api;
    // In a forum, General (1) must be named here, though sends leave it out.
    const thread = to.threadId ?? (this.#forums.has(to.chatId) ? "1" : undefined);
    try {
      await api.call("sendChatAction", {
        chat_id: this.#chatOf(to),
        action: "typing",
        ...(thread ? { message_thread_id: Number(thread) } : {}),
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
          await this.#routes.migrate(to.chatId, String(error.migrateToChatId)).catch((e) =>
            this.#log.warn("A group's new chat id could not be saved", { error: e })
          );
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

  /** Records that group `from` became supergroup `to` (its service message said so). */
  async migrated(from: string, to: string): Promise<void> {
    if (this.#routes.target(from) === to) return;
    this.#log.info("A Telegram group became a supergroup; its sessions go on there", { from, to });
    await this.#routes.migrate(from, to).catch((error) =>
      this.#log.warn("A group's new chat id could not be saved", { error })
    );
  }

  /** The chat id the sessions of `chatId` go by (a migrated group's, for its supergroup). */
  origin(chatId: string): string {
    return this.#routes.origin(chatId);
  }

  /** Records that chat `chatId` blocked or removed the bot (or let it back). */
  markBlocked(chatId: string, blocked: boolean): void {
    void this.#routes.setBlocked(chatId, blocked).catch((error) =>
      this.#log.warn("A chat's block could not be saved", { error })
    );
    this.#health.detail("undeliverable_chats", this.#routes.blocked);
  }

  #noted(error: unknown, to: SessionSource): unknown {
    if (!(error instanceof TelegramError)) return error;
    const health = this.#health;
    // What the part deals with itself (an edit that changed nothing, a format it sends plain) is no error.
    if (error.action !== "not_modified" && error.action !== "plain_fallback") {
      health.error(`${error.method}:${error.platformCode}`, error.description);
    }
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
    const chat = this.#routes.target(to.chatId);
    return /^-?\d+$/.test(chat) ? Number(chat) : chat;
  }
}

/** `text` cut to `limit` UTF-16 units, never between the halves of a surrogate pair. */
function withinLimit(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const code = text.charCodeAt(limit - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit);
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
