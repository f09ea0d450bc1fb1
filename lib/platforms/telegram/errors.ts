/**
 * Telegram's refusals (shared/protocols/telegram.md §0, §2, §3) and what the
 * adapter does about each: one table from the answer's error code and
 * description to an action, so that no caller matches wording itself.
 *
 * @module
 */

import { PlatformError } from "../../errors.ts";

/** What to do about a Telegram refusal. */
export type TelegramAction =
  /** 429: wait `retry_after`, then the same call again. */
  | "retry_after"
  /**
   * 5xx or 421, or a failure on the way: the same call again, after a
   * backoff, when that cannot do it twice (see `TelegramError.retryable`).
   */
  | "retry"
  /** An edit to the text the message already has: that is a success. */
  | "not_modified"
  /** The formatting was refused: send the same words as plain text. */
  | "plain_fallback"
  /** The group became a supergroup: send to `migrate_to_chat_id` instead. */
  | "migrate"
  /** The thread is gone (or is General): send without `message_thread_id`. */
  | "drop_thread"
  /** The message replied to is gone: send without `reply_parameters`. */
  | "drop_reply"
  /** 403: the bot was blocked, kicked or never let in; never retried. */
  | "blocked"
  /** 409: another poller or a webhook holds the updates. */
  | "conflict"
  /** 401: the token is wrong; nothing works until the operator fixes it. */
  | "unauthorized"
  /** Any other refusal: permanent. */
  | "refused";

/**
 * The action for a refusal with HTTP/`error_code` `code` and `description`.
 *
 * @example
 * ```ts
 * telegramAction(400, "Bad Request: can't parse entities: Character '.' is reserved"); // "plain_fallback"
 * telegramAction(429, "Too Many Requests: retry after 3"); // "retry_after"
 * ```
 */
export function telegramAction(code: number, description: string): TelegramAction {
  if (code === 429) return "retry_after";
  if (code >= 500 || code === 421) return "retry";
  if (code === 401) return "unauthorized";
  if (code === 403) return "blocked";
  if (code === 409) return "conflict";
  const text = description.toLowerCase();
  if (text.includes("message is not modified")) return "not_modified";
  if (text.includes("can't parse entities") || text.includes("can't parse messageentity")) {
    return "plain_fallback";
  }
  if (text.includes("upgraded to a supergroup")) return "migrate";
  if (text.includes("message thread not found")) return "drop_thread";
  if (text.includes("message to be replied not found")) return "drop_reply";
  return "refused";
}

/** Whether a call that failed without an answer can have reached Telegram. */
export type Delivery =
  /** Telegram answered: it said no. */
  | "refused"
  /** The request never left (no connection, no address): safe to send again. */
  | "unsent"
  /** A timeout or reset after the request left: it may have been carried out. */
  | "unknown";

/**
 * A Telegram call that failed: refused by Telegram (`errorCode`,
 * `description`), or lost on the way (`delivery` says whether it may have
 * been carried out). `action` is what to do about it.
 *
 * @example
 * ```ts
 * const error = new TelegramError("sendMessage", {
 *   errorCode: 429,
 *   description: "Too Many Requests: retry after 3",
 *   retryAfterMs: 3_000,
 * });
 * error.action; // "retry_after"
 * ```
 */
export class TelegramError extends PlatformError {
  /** The Bot API method, e.g. `sendMessage`. */
  readonly method: string;
  /** `error_code` (the HTTP status); 0 when Telegram never answered. */
  readonly errorCode: number;
  /** Telegram's `description`, or what went wrong on the way. */
  readonly description: string;
  readonly action: TelegramAction;
  readonly delivery: Delivery;
  /** `parameters.migrate_to_chat_id` of a migrated group. */
  readonly migrateToChatId: number | undefined;

  constructor(
    method: string,
    details: {
      errorCode?: number;
      description: string;
      retryAfterMs?: number;
      migrateToChatId?: number;
      delivery?: Delivery;
      cause?: unknown;
    },
  ) {
    const errorCode = details.errorCode ?? 0;
    const delivery = details.delivery ?? "refused";
    const action = delivery === "refused"
      ? telegramAction(errorCode, details.description)
      : "retry";
    super(`Telegram ${method} failed: ${details.description}`, {
      platform: "telegram",
      code: errorCode || (delivery === "unsent" ? "network" : "no_answer"),
      // A send that may have gone through is not tried again by itself: that would double it.
      // Safe are a request that never left, a 421 (the wrong server: nothing was done), and
      // any call that does the same however often it runs; a 5xx may come after the send.
      retryable: action === "retry_after" ||
        (action === "retry" &&
          (delivery === "unsent" || errorCode === 421 || IDEMPOTENT.has(method))),
      ...(details.retryAfterMs !== undefined ? { retryAfterMs: details.retryAfterMs } : {}),
      cause: details.cause,
    });
    this.name = "TelegramError";
    this.method = method;
    this.errorCode = errorCode;
    this.description = details.description;
    this.action = action;
    this.delivery = delivery;
    this.migrateToChatId = details.migrateToChatId;
  }
}

/** Methods that do the same thing however often they are called. */
const IDEMPOTENT = new Set([
  "getMe",
  "getUpdates",
  "getFile",
  "getWebhookInfo",
  "deleteWebhook",
  "setWebhook",
  "setMyCommands",
  "editMessageText",
  "sendChatAction",
  "sendMessageDraft",
  "deleteMessage",
]);
