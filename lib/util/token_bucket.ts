/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. Each
 * send takes one; when none is left, the caller learns how long to wait.
 *
 * @module
 */

/**
 * One budget.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(1, 1, () => 0);
 * bucket.take(); // 0: sent now
 * bucket.take(); // 1000: wait 1 s for the next
 * ```
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;
  /** No token before this time (a platform asked to slow down). */
  #pausedUntil = 0;

  constructor(ratePerSecond: number, burst = Math.max(1, ratePerSecond), now = Date.now) {
    if (!(ratePerSecond > 0)) {
      throw new RangeError(`A token bucket needs a positive rate, got ${ratePerSecond}`);
    }
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  /** Milliseconds until a token is there (0: now). */
  waitMs(): number {
    const now = this.#refill();
    const paused = Math.max(0, this.#pausedUntil - now);
    const short = this.#tokens >= 1 ? 0 : ((1 - this.#tokens) / this.#rate) * 1000;
    return Math.ceil(Math.max(paused, short));
  }

  /** Takes a token if there is one now; returns whether it did. */
  tryTake(): boolean {
    if (this.waitMs() > 0) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Takes a token, going into debt if needed; returns how long to wait before using it. */
  take(): number {
    const wait = this.waitMs();
    this.#tokens -= 1;
    return wait;
  }

  /** Whether the bucket is full and not paused (as good as a new one). */
  idle(): boolean {
    const now = this.#refill();
    return this.#tokens >= this.#burst && this.#pausedUntil <= now;
  }

  /** Nothing before `ms` from now (a 429's Retry-After). */
  pause(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + ms);
  }

  #refill(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
    return now;
  }
}
