/**
 * The send budgets of the platforms that declare one (`capabilities.rate`):
 * a token bucket per chat and one per platform. Final sends wait for a
 * token; previews take one only when it is there now (else they are
 * skipped), so they never delay a reply. A platform's "slow down" (a 429)
 * pauses that chat only.
 *
 * @module
 */

import type { PlatformAdapter } from "../platforms/adapter.ts";
import { TokenBucket } from "../util/token_bucket.ts";

/**
 * Chats with a bucket beyond which idle buckets (full and not paused: as good
 * as a new one) are forgotten. A bucket still pacing its chat is kept, so the
 * map holds at most this many plus the chats sent to within their refill
 * time or paused by the platform.
 */
export const MAX_IDLE_CHECK = 10_000;

/**
 * Every budget of one gateway.
 *
 * @example
 * ```ts
 * import type { PlatformAdapter } from "../platforms/adapter.ts";
 * import { chatKeyOf } from "../storage/state_store.ts";
 * import type { Previews } from "./previews.ts";
 * declare const adapter: PlatformAdapter, previews: Previews;
 * const chatKey = chatKeyOf({ platform: "local", chatType: "dm", chatId: "alice" });
 * const text = "Hel";
 * const budgets = new RateBudgets();
 * if (budgets.waitMs(adapter, chatKey) === 0) budgets.take(adapter, chatKey); // then send
 * if (budgets.tryPreview(adapter, chatKey)) await previews.show(text);
 * ```
 */
export class RateBudgets {
  readonly #chats = new Map<string, TokenBucket>();
  readonly #platforms = new Map<string, TokenBucket>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Chats with a bucket now. */
  get chats(): number {
    return this.#chats.size;
  }

  /** Milliseconds until a send to `chatKey` may go (0: now, or no budget). */
  waitMs(adapter: PlatformAdapter, chatKey: string): number {
    const buckets = this.#buckets(adapter, chatKey);
    return buckets ? Math.max(buckets.chat.waitMs(), buckets.platform.waitMs()) : 0;
  }

  /** Takes a send's tokens (call when {@linkcode waitMs} said 0). */
  take(adapter: PlatformAdapter, chatKey: string): void {
    const buckets = this.#buckets(adapter, chatKey);
    buckets?.chat.take();
    buckets?.platform.take();
  }

  /** Whether a preview may go now (then its tokens are taken). */
  tryPreview(adapter: PlatformAdapter, chatKey: string): boolean {
    const buckets = this.#buckets(adapter, chatKey);
    if (!buckets) return true;
    if (buckets.chat.waitMs() > 0 || buckets.platform.waitMs() > 0) return false;
    buckets.chat.take();
    buckets.platform.take();
    return true;
  }

  /** The platform asked the chat to wait `ms` (sends and previews alike). */
  slowDown(adapter: PlatformAdapter, chatKey: string, ms: number): void {
    this.#buckets(adapter, chatKey)?.chat.pause(ms);
  }

  /** Drops the chats' buckets that are full again: a new one would be the same. */
  #forgetIdle(): void {
    for (const [key, bucket] of this.#chats) if (bucket.idle()) this.#chats.delete(key);
  }

  #buckets(adapter: PlatformAdapter, chatKey: string) {
    const rate = adapter.capabilities.rate;
    if (!rate) return undefined;
    let chat = this.#chats.get(chatKey);
    if (!chat) {
      if (this.#chats.size >= MAX_IDLE_CHECK) this.#forgetIdle();
      this.#chats.set(chatKey, chat = new TokenBucket(rate.perChatPerSecond, 1, this.#now));
    }
    let platform = this.#platforms.get(adapter.name);
    if (!platform) {
      this.#platforms.set(
        adapter.name,
        platform = new TokenBucket(rate.globalPerSecond, rate.globalPerSecond, this.#now),
      );
    }
    return { chat, platform };
  }
}
