/**
 * Exponential backoff with full jitter, for retries of anything remote.
 *
 * @module
 */

/** Shape of a backoff schedule. */
export interface BackoffOptions {
  /** Delay of the first retry before jitter. Default 1000 ms. */
  readonly baseMs?: number;
  /** Upper bound of any delay. Default 60 000 ms. */
  readonly maxMs?: number;
  /** Random number in [0, 1), injectable for tests. */
  readonly random?: () => number;
}

/**
 * The delay before retry number `attempt` (0-based): a random value between
 * half and all of `min(maxMs, baseMs * 2^attempt)`, so that many clients
 * retrying together spread out.
 *
 * @example
 * ```ts
 * backoffDelay(0, { random: () => 0.99 }); // ~1000
 * backoffDelay(10, { random: () => 0 });    // 30000 (half of the 60 s cap)
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 1000;
  const max = options.maxMs ?? 60_000;
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  const random = options.random ?? Math.random;
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
