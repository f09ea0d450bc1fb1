/**
 * The rate-limit circuit breaker of Weixin sends: `threshold` rate-limit
 * answers within `windowMs` open the circuit for `openMs`, during which
 * sends fail at once (with the time left, so the outbox waits that long)
 * instead of hammering iLink; a success closes it and forgets the answers.
 *
 * @module
 */

/** What a {@linkcode RateLimitBreaker} needs. */
export interface BreakerOptions {
  /** Rate-limit answers within `windowMs` that open the circuit. */
  readonly threshold: number;
  /** How far back rate-limit answers count, in ms. */
  readonly windowMs: number;
  /** How long an open circuit fails sends, in ms. */
  readonly openMs: number;
  /** Current time in ms; default `Date.now` (tests pass a fake clock). */
  readonly now?: () => number;
}

/**
 * Counts rate-limit answers and opens the circuit.
 *
 * @example
 * ```ts
 * const breaker = new RateLimitBreaker({ threshold: 1, windowMs: 30_000, openMs: 30_000 });
 * breaker.record(); // true: the circuit is open
 * breaker.remainingMs(); // 30000
 * ```
 */
export class RateLimitBreaker {
  readonly #options: BreakerOptions;
  readonly #now: () => number;
  #events: number[] = [];
  #openUntil = 0;

  /** Starts closed, with no answers counted. */
  constructor(options: BreakerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Ms until the circuit closes (0 while closed). */
  remainingMs(): number {
    return Math.max(0, this.#openUntil - this.#now());
  }

  /** Records a rate-limit answer; true when it opened the circuit. */
  record(): boolean {
    const now = this.#now();
    this.#events = this.#events.filter((at) => now - at < this.#options.windowMs);
    this.#events.push(now);
    if (this.#events.length < this.#options.threshold) return false;
    this.#openUntil = now + this.#options.openMs;
    this.#events = [];
    return true;
  }

  /** A send went through: the circuit is closed and the count starts again. */
  success(): void {
    this.#events = [];
    this.#openUntil = 0;
  }
}
