/**
 * Waits for `promise` at most `ms` milliseconds; the timer is cleared either
 * way, so nothing keeps the process alive afterwards.
 *
 * @example
 * ```ts
 * const work = fetch("https://example.com/slow");
 * const outcome = await raceTimeout(work, 5_000);
 * if (outcome === TIMED_OUT) console.log("still running");
 * ```
 */
export async function raceTimeout<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What {@linkcode raceTimeout} answers when time ran out. */
export const TIMED_OUT: unique symbol = Symbol("timed out");
