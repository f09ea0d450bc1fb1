/**
 * Faults the Telegram simulator can answer instead of a call (section 6 of
 * `shared/protocols/telegram.md`), armed per method and count with
 * `TelegramServer.failNext`.
 *
 * @module
 */

import { CONFLICT_OTHER_POLL } from "./_telegram_polling.ts";

/**
 * How a call is answered instead of normally:
 * - `error`: the API error envelope (HTTP status = error_code; a 429 with
 *   retry_after also sends Retry-After);
 * - `http`: a raw HTTP answer that is not the envelope (a proxy's 502);
 * - `delayMs`: the normal answer, late;
 * - `stall`: no answer until the server closes;
 * - `reset: "before"`: the connection is closed and the call never runs
 *   (safe to retry);
 * - `reset: "after"`: the call runs (a message is stored) and the
 *   connection is closed without the answer.
 */
export type Fault =
  | {
    error: number;
    description: string;
    parameters?: { retry_after?: number; migrate_to_chat_id?: number };
  }
  | { http: number; body?: string; type?: string }
  | { delayMs: number }
  | { stall: true }
  | { reset: "before" | "after" };

/** Ready-made {@linkcode Fault}s with the Bot API's wording. */
export const Faults = {
  /** 429 "Too Many Requests: retry after N" with retry_after N (e.g. 35 or 149). */
  tooManyRequests: (retryAfter: number): Fault => ({
    error: 429,
    description: `Too Many Requests: retry after ${retryAfter}`,
    parameters: { retry_after: retryAfter },
  }),
  /** 400 can't parse entities (default: an unescaped '.'). */
  parse: (
    detail = "Character '.' is reserved and must be escaped with the preceding '\\'",
  ): Fault => ({ error: 400, description: `Bad Request: can't parse entities: ${detail}` }),
  /** 400 message is not modified. */
  notModified: {
    error: 400,
    description: "Bad Request: message is not modified: specified new message content and " +
      "reply markup are exactly the same as a current content and reply markup of the message",
  } as Fault,
  /** 409 from a second poller. */
  conflict: { error: 409, description: CONFLICT_OTHER_POLL } as Fault,
  /** 500 Internal Server Error. */
  internal: { error: 500, description: "Internal Server Error" } as Fault,
  /** A proxy's 502 Bad Gateway page (not JSON). */
  badGateway: {
    http: 502,
    body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
      "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n" +
      "</body>\r\n</html>\r\n",
    type: "text/html",
  } as Fault,
  /** 401 Unauthorized (a revoked token). */
  unauthorized: { error: 401, description: "Unauthorized" } as Fault,
  /** 403 bot was blocked by the user. */
  blocked: { error: 403, description: "Forbidden: bot was blocked by the user" } as Fault,
  /** 400 group chat was upgraded, with migrate_to_chat_id. */
  migrated: (chatId: number): Fault => ({
    error: 400,
    description: "Bad Request: group chat was upgraded to a supergroup chat",
    parameters: { migrate_to_chat_id: chatId },
  }),
  /** The normal answer after `ms`. */
  slow: (ms: number): Fault => ({ delayMs: ms }),
  /** No answer until the server closes (a stalled getUpdates). */
  stall: { stall: true } as Fault,
  /** The connection closes before the call runs. */
  resetBefore: { reset: "before" } as Fault,
  /** The call runs, then the connection closes without its answer. */
  appliedThenReset: { reset: "after" } as Fault,
};
