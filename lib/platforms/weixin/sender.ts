/**
 * One Weixin `sendmessage` at a time: the adapter's sends never overlap
 * (iLink rate-limits an account, not a chat). Each message goes with a
 * client_id that is the same on every try, so a retry after a lost answer
 * is not a second message. A stale context token (−14, or −2 "unknown
 * error") is dropped and the message sent once more without it; a network
 * error is tried again `retries` times; a rate limit feeds the circuit
 * breaker, which fails sends fast ("cooldown") while it is open.
 *
 * @module
 */

import type { Logger } from "../../util/log.ts";
import { ILINK_TIMEOUTS, type IlinkClient, IlinkError } from "./api.ts";
import type { RateLimitBreaker } from "./breaker.ts";

/** What a {@linkcode WeixinSender} needs. */
export interface SenderOptions {
  /** The account's rate-limit circuit: fed by rate limits, checked before every try. */
  readonly breaker: RateLimitBreaker;
  /** Where retries and dropped tokens are logged. */
  readonly log: Logger;
  /** Tries again after a network or server error. */
  readonly retries: number;
  /** Wait before try n+1: n × this (3 × this after a rate limit). */
  readonly retryDelayMs: number;
  /** Called when iLink said a context token is stale (it is not used again). */
  readonly onStaleToken: (token: string) => void;
}

/** One message to send. */
export interface Outgoing {
  /** The peer (or group) it goes to. */
  readonly toUserId: string;
  /** The same on every try of this message, so iLink drops a repeat. */
  readonly clientId: string;
  /** The message items (`item_list`): text, or one uploaded file. */
  readonly items: readonly Record<string, unknown>[];
  /** The peer's newest context token, if there is one. */
  readonly contextToken?: string;
}

/** What a send came to: sent, or the peer's session is not ready (wait for their next message). */
export type SendOutcome = { readonly sent: true } | {
  readonly sent: false;
  readonly reason: string;
};

/**
 * Sends Weixin messages one at a time.
 *
 * @example
 * ```ts
 * import type { Logger } from "../../util/log.ts";
 * import { IlinkClient } from "./api.ts";
 * import { RateLimitBreaker } from "./breaker.ts";
 * declare const log: Logger;
 *
 * const sender = new WeixinSender({
 *   breaker: new RateLimitBreaker({ threshold: 1, windowMs: 30_000, openMs: 30_000 }),
 *   log,
 *   retries: 4,
 *   retryDelayMs: 1_000,
 *   onStaleToken: (token) => console.log("stale", token),
 * });
 * const api = new IlinkClient({ baseUrl: "https://ilinkai.weixin.qq.com", token: "bot-token" });
 * await sender.send(api, {
 *   toUserId: "u@im.wechat",
 *   clientId: "hermes-weixin-0f3a",
 *   items: [{ type: 1, text_item: { text: "Hello" } }],
 *   contextToken: "c1",
 * }); // { sent: true }
 * ```
 */
export class WeixinSender {
  readonly #o: SenderOptions;
  #tail: Promise<unknown> = Promise.resolve();

  /** Sends nothing until {@linkcode send}. */
  constructor(options: SenderOptions) {
    this.#o = options;
  }

  /** Sends once the sends before it are done; throws an IlinkError iLink's refusal. */
  send(api: IlinkClient, message: Outgoing): Promise<SendOutcome> {
    const run = this.#tail.then(() => this.#send(api, message));
    this.#tail = run.catch(() => {});
    return run;
  }

  async #send(api: IlinkClient, message: Outgoing): Promise<SendOutcome> {
    let token = message.contextToken;
    let tokenless = false;
    for (let attempt = 1;; attempt++) {
      const cooldown = this.#o.breaker.remainingMs();
      if (cooldown > 0) throw coolingDown(cooldown);
      try {
        await api.post("sendmessage", { msg: payload(message, token) }, ILINK_TIMEOUTS.api);
        this.#o.breaker.success();
        return { sent: true };
      } catch (error) {
        if (!(error instanceof IlinkError)) throw error;
        if (error.kind === "session_expired") {
          if (token !== undefined && !tokenless) {
            this.#o.onStaleToken(token);
            this.#o.log.info("Weixin refused a stale context token; sending once without it", {
              to: message.toUserId,
              error: error.message,
            });
            token = undefined;
            tokenless = true;
            attempt--; // not a retry
            continue;
          }
          return {
            sent: false,
            reason:
              `iLink sendmessage session not ready (${error.message}): the user must send the bot a message first (or re-pair); waiting for their next message`,
          };
        }
        if (error.kind === "rate_limited") {
          if (this.#o.breaker.record()) throw coolingDown(this.#o.breaker.remainingMs(), error);
          if (attempt > this.#o.retries) throw error;
          await sleep(3 * this.#o.retryDelayMs);
        } else {
          if (attempt > this.#o.retries || !error.retryable) throw error;
          this.#o.log.warn("a Weixin send failed; trying again with the same client_id", {
            attempt,
            error: error.message,
          });
          await sleep(attempt * this.#o.retryDelayMs);
        }
      }
    }
  }
}

/** The `msg` of a sendmessage. */
function payload(message: Outgoing, token: string | undefined): Record<string, unknown> {
  return {
    from_user_id: "",
    to_user_id: message.toUserId,
    client_id: message.clientId,
    message_type: 2,
    message_state: 2,
    item_list: message.items,
    ...(token ? { context_token: token } : {}),
  };
}

function coolingDown(remainingMs: number, cause?: unknown): IlinkError {
  return new IlinkError(
    "sendmessage",
    "rate_limited",
    `iLink sendmessage rate limited; cooldown active for ${(remainingMs / 1000).toFixed(1)}s`,
    { ret: -2, retryAfterMs: Math.max(1, Math.ceil(remainingMs)), cause },
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
