/**
 * The flood-control model of the Telegram simulator (section 3 of
 * `shared/protocols/telegram.md`), off unless switched on: about one
 * operation per second per chat with a small burst, sends and edits sharing
 * that budget; at most 20 per minute into one group; about 30 per second
 * overall. An operation past a limit is refused with 429 "Too Many
 * Requests: retry after N" and is not counted.
 *
 * Assumptions where the document is silent: the per-chat budget is a token
 * bucket (burst 3, one token a second by default); the group and overall
 * limits are sliding windows of 60 s and 1 s; N is the whole seconds until
 * the operation would pass, at least 1.
 *
 * @module
 */

import { tooManyRequests } from "./_telegram_http.ts";

/** The limits; every field has the default the module doc names. */
export interface RateLimits {
  /** Tokens a chat's bucket holds (default 3). */
  chatBurst?: number;
  /** Tokens a chat's bucket gains per second (default 1). */
  chatPerSecond?: number;
  /** Operations per minute into one group or supergroup (default 20). */
  groupPerMinute?: number;
  /** Operations per second across all chats (default 30). */
  globalPerSecond?: number;
}

/** The rate model: call {@linkcode RateModel.take} before each send or edit. */
export class RateModel {
  /** Whether limits apply. */
  enabled = false;
  #limits: Required<RateLimits> = {
    chatBurst: 3,
    chatPerSecond: 1,
    groupPerMinute: 20,
    globalPerSecond: 30,
  };
  readonly #buckets = new Map<number, { tokens: number; at: number }>();
  readonly #group = new Map<number, number[]>();
  #global: number[] = [];

  /** Switches the model on with `limits` (merged into the defaults), or off. */
  configure(on: boolean, limits: RateLimits = {}): void {
    this.enabled = on;
    this.#limits = { ...this.#limits, ...limits };
    this.#buckets.clear();
    this.#group.clear();
    this.#global = [];
  }

  /** Counts one operation in `chatId` at `now` (ms), or throws the 429. */
  take(chatId: number, isGroup: boolean, now: number): void {
    if (!this.enabled) return;
    const limits = this.#limits;
    const bucket = this.#buckets.get(chatId) ?? { tokens: limits.chatBurst, at: now };
    bucket.tokens = Math.min(
      limits.chatBurst,
      bucket.tokens + (now - bucket.at) / 1000 * limits.chatPerSecond,
    );
    bucket.at = now;
    this.#buckets.set(chatId, bucket);
    let waitMs = bucket.tokens >= 1 ? 0 : (1 - bucket.tokens) / limits.chatPerSecond * 1000;
    const inGroup = (this.#group.get(chatId) ?? []).filter((t) => t > now - 60_000);
    this.#group.set(chatId, inGroup);
    if (isGroup && inGroup.length >= limits.groupPerMinute) {
      waitMs = Math.max(waitMs, inGroup[inGroup.length - limits.groupPerMinute]! + 60_000 - now);
    }
    this.#global = this.#global.filter((t) => t > now - 1000);
    if (this.#global.length >= limits.globalPerSecond) {
      waitMs = Math.max(
        waitMs,
        this.#global[this.#global.length - limits.globalPerSecond]! + 1000 - now,
      );
    }
    if (waitMs > 0) throw tooManyRequests(Math.max(1, Math.ceil(waitMs / 1000)));
    bucket.tokens -= 1;
    if (isGroup) inGroup.push(now);
    this.#global.push(now);
  }
}
