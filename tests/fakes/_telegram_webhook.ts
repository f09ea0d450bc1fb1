/**
 * Webhook mode of the Telegram simulator (section 1 of
 * `shared/protocols/telegram.md`): setWebhook with its checks, delivery of
 * each update by POST with `X-Telegram-Bot-Api-Secret-Token`, a retry of any
 * non-2xx answer after 1 s doubling (capped at 60 s), a Retry-After in the
 * answer honoured (at most 3600 s), a method in a 2xx answer executed, and a
 * record of every delivery.
 *
 * Assumptions where the document is silent: any http(s) URL is accepted
 * (as by a `--local` server: tests listen on 127.0.0.1 and a free port);
 * up to max_connections updates are in flight at once, started in update_id
 * order; the backoff has no random part; the retry base is an option.
 *
 * @module
 */

import { badRequest, type Params, tooManyRequests } from "./_telegram_http.ts";
import { allowed, integer } from "./_telegram_polling.ts";
import type { TelegramState, Update } from "./_telegram_state.ts";

/** One POST of an update to the webhook. */
export interface Delivery {
  /** The update delivered. */
  update_id: number;
  /** The webhook URL. */
  url: string;
  /** The secret header sent, if any. */
  secret?: string;
  /** The answer's HTTP status; undefined while in flight or when the request failed. */
  status?: number;
  /** The network error, when the request failed. */
  error?: string;
  /** The try number for this update, from 1. */
  attempt: number;
  /** Simulated time of the POST. */
  at: number;
}

/** The webhook as set. */
interface Hook {
  url: string;
  secret?: string;
  maxConnections: number;
  allowedUpdates?: string[];
  lastErrorDate?: number;
  lastErrorMessage?: string;
}

const SECRET = /^[A-Za-z0-9_-]{1,256}$/;

/** The webhook side of the simulator. */
export class Webhook {
  /** Every delivery, in order. */
  readonly deliveries: Delivery[] = [];
  #hook: Hook | undefined;
  #lastChange = -Infinity;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  readonly #abort = new AbortController();

  /**
   * Delivers from `state`; `retryMs` is the first retry delay; `execute`
   * runs a method a 2xx answer carries.
   */
  constructor(
    readonly state: TelegramState,
    readonly retryMs: number,
    readonly execute: (method: string, params: Params) => Promise<void>,
  ) {
    state.listen(() => this.#wake?.());
  }

  /** The webhook URL, "" when polling. */
  get url(): string {
    return this.#hook?.url ?? "";
  }

  /** setWebhook / deleteWebhook: returns the description of the success. */
  set(params: Params, onChange: () => void): string {
    const url = String(params.url ?? "");
    const secret = params.secret_token === undefined || params.secret_token === ""
      ? undefined
      : String(params.secret_token);
    if (secret !== undefined && !SECRET.test(secret)) {
      throw badRequest("secret token contains unallowed characters");
    }
    if (url !== "") {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw badRequest("invalid webhook URL specified");
      }
      if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
        throw badRequest("bad webhook: HTTPS url must be provided for webhook");
      }
    }
    if (truthy(params.drop_pending_updates)) this.state.queue.length = 0;
    if (url === this.url && url === "") return "Webhook is already deleted";
    const now = performance.now();
    if (now - this.#lastChange < 1000) throw tooManyRequests(1);
    this.#lastChange = now;
    if (url === "") {
      this.#hook = undefined;
      this.#wake?.();
      return "Webhook was deleted";
    }
    const same = url === this.#hook?.url;
    this.#hook = {
      url,
      secret,
      maxConnections: Math.min(100, Math.max(1, integer(params.max_connections, 40))),
      allowedUpdates: params.allowed_updates === undefined
        ? undefined
        : allowed(params.allowed_updates),
    };
    if (this.#hook.allowedUpdates) this.state.allowedUpdates = this.#hook.allowedUpdates;
    onChange();
    this.#loop ??= this.#deliver();
    this.#wake?.();
    return same ? "Webhook is already set" : "Webhook was set";
  }

  /** getWebhookInfo's result. */
  info(): Record<string, unknown> {
    const info: Record<string, unknown> = {
      url: this.url,
      has_custom_certificate: false,
      pending_update_count: this.state.pending().length,
    };
    const hook = this.#hook;
    if (hook) {
      info.max_connections = hook.maxConnections;
      if (hook.lastErrorDate !== undefined) {
        info.last_error_date = hook.lastErrorDate;
        info.last_error_message = hook.lastErrorMessage;
      }
      if (hook.allowedUpdates) info.allowed_updates = hook.allowedUpdates;
    }
    return info;
  }

  /** Stops delivering and waits for the loop to end. */
  async close(): Promise<void> {
    this.#abort.abort();
    this.#wake?.();
    await this.#loop;
  }

  /**
   * Delivers pending updates, up to max_connections at once (so a later
   * update can be answered before an earlier one); each update that was not
   * taken is tried again on its own backoff.
   */
  async #deliver(): Promise<void> {
    const signal = this.#abort.signal;
    const inFlight = new Map<number, Promise<void>>();
    const retries = new Map<number, { attempt: number; backoff: number; notBefore: number }>();
    while (!signal.aborted) {
      const hook = this.#hook;
      const now = performance.now();
      for (const update of hook ? this.state.pending() : []) {
        if (inFlight.size >= hook!.maxConnections) break;
        const id = update.update_id;
        const retry = retries.get(id) ?? { attempt: 0, backoff: this.retryMs, notBefore: 0 };
        if (inFlight.has(id) || retry.notBefore > now) continue;
        retry.attempt++;
        retries.set(id, retry);
        const delivery = this.#post(hook!, update, retry.attempt).then((wait) => {
          if (wait === 0) {
            this.state.drop(id);
            retries.delete(id);
            return;
          }
          retry.notBefore = performance.now() + (wait > 0 ? wait : retry.backoff);
          if (wait < 0) retry.backoff = Math.min(retry.backoff * 2, 60 * this.retryMs);
        }).finally(() => {
          inFlight.delete(id);
          this.#wake?.();
        });
        inFlight.set(id, delivery);
      }
      const waiting = [...retries].filter(([id]) => !inFlight.has(id)).map(([, r]) => r.notBefore);
      const soonest = waiting.length > 0 ? Math.min(...waiting) : Infinity;
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(soonest)
          ? setTimeout(resolve, Math.max(0, soonest - performance.now()))
          : undefined;
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        };
        this.#wake = done;
        signal.addEventListener("abort", done, { once: true });
      });
      this.#wake = undefined;
    }
    await Promise.allSettled(inFlight.values());
  }

  /** POSTs one update: 0 when done, the Retry-After in ms, or -1 for the backoff. */
  async #post(hook: Hook, update: Update, attempt: number): Promise<number> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (hook.secret) headers["x-telegram-bot-api-secret-token"] = hook.secret;
    const record: Delivery = {
      update_id: update.update_id,
      url: hook.url,
      attempt,
      at: this.state.now(),
      ...(hook.secret ? { secret: hook.secret } : {}),
    };
    this.deliveries.push(record);
    try {
      const response = await fetch(hook.url, {
        method: "POST",
        headers,
        body: JSON.stringify(update),
        signal: this.#abort.signal,
      });
      const body = await response.text();
      record.status = response.status;
      if (response.ok) {
        await this.#reply(body);
        return 0;
      }
      hook.lastErrorDate = Math.floor(this.state.now() / 1000);
      hook.lastErrorMessage =
        `Wrong response from the webhook: ${response.status} ${response.statusText}`;
      const retryAfter = Number(response.headers.get("retry-after"));
      return retryAfter > 0 ? Math.min(retryAfter, 3600) * 1000 : -1;
    } catch (error) {
      record.error = String(error);
      hook.lastErrorDate = Math.floor(this.state.now() / 1000);
      hook.lastErrorMessage = "Connection refused";
      return -1;
    }
  }

  /** Runs a method a 2xx answer carries; its result is never reported. */
  async #reply(body: string): Promise<void> {
    let call: unknown;
    try {
      call = JSON.parse(body);
    } catch {
      return;
    }
    if (typeof call !== "object" || call === null || !("method" in call)) return;
    const { method, ...params } = call as Record<string, unknown>;
    await this.execute(String(method), params).catch(() => {});
  }
}

/** A boolean parameter: true, "true" or "1". */
export function truthy(value: unknown): boolean {
  return value === true || value === "true" || value === "1" || value === 1;
}
