/**
 * The WeCom AI Bot error codes hermes knows, what each means and what the
 * adapter does about it. The adapter acts on this table, never on scattered
 * literals, and counts every code it meets.
 *
 * @module
 */

/**
 * What the adapter does when a request is answered with a code:
 * - `fatal`: nothing helps until the operator changes the configuration;
 * - `resubscribe`: subscribe again on the live link (or reconnect), then retry once;
 * - `defer_until_inbound`: the chat can only be answered on a fresh inbound req_id;
 * - `reply_window_expired`: the req_id is too old: a DM is sent proactively, a group waits;
 * - `retry`: a passing condition; the outbox tries again later;
 * - `refuse`: this message will never be taken (undeliverable).
 */
export type WecomAction =
  | "fatal"
  | "resubscribe"
  | "defer_until_inbound"
  | "reply_window_expired"
  | "retry"
  | "refuse";

/** One row of the table. */
export interface WecomErrorInfo {
  readonly meaning: string;
  readonly action: WecomAction;
}

/** Every known errcode. */
export const WECOM_ERRORS: Readonly<Record<number, WecomErrorInfo>> = {
  [-1]: { meaning: "the server is busy", action: "retry" },
  40013: { meaning: "invalid secret: the bot id or secret is wrong", action: "fatal" },
  40008: { meaning: "the req_id is not one the server knows", action: "reply_window_expired" },
  45009: { meaning: "the API call rate limit was reached", action: "retry" },
  600039: {
    meaning: "the bot may not send proactively into this chat (groups) or in this format",
    action: "defer_until_inbound",
  },
  846604: { meaning: "the reply window of the req_id expired", action: "reply_window_expired" },
  846608: { meaning: "the stream window of the req_id expired", action: "reply_window_expired" },
  846609: {
    meaning: "aibot websocket not subscribed: the server dropped this link's subscription",
    action: "resubscribe",
  },
};

/**
 * What `errcode` means and what to do; a code not in the table is refused
 * (undeliverable, with its code shown), since retrying an unknown refusal
 * for hours helps no one.
 *
 * @example
 * ```ts
 * wecomError(846609).action; // "resubscribe"
 * ```
 */
export function wecomError(errcode: number): WecomErrorInfo {
  return WECOM_ERRORS[errcode] ?? { meaning: "an error hermes does not know", action: "refuse" };
}
