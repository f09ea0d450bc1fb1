/**
 * The message ids seen lately, so a message a platform delivers twice is
 * answered once: at most `max` ids, each for `ttlMs`.
 *
 * @module
 */

/**
 * A bounded set of recent ids.
 *
 * @example
 * ```ts
 * const seen = new SeenIds(1000, 300_000);
 * seen.add("M1", Date.now()); // true
 * seen.add("M1", Date.now()); // false: a repeat
 * ```
 */
export class SeenIds {
  readonly #max: number;
  readonly #ttlMs: number;
  /** Id → when it was seen; a Map keeps insertion order, oldest first. */
  readonly #ids = new Map<string, number>();

  constructor(max: number, ttlMs: number) {
    this.#max = max;
    this.#ttlMs = ttlMs;
  }

  /** How many ids are kept. */
  get size(): number {
    return this.#ids.size;
  }

  /** Forgets `id` (a message that could not be kept must not read as a repeat when it comes again). */
  forget(id: string): void {
    this.#ids.delete(id);
  }

  /** Records `id`; false when it was seen within the time to live. */
  add(id: string, now: number): boolean {
    const seen = this.#ids.get(id);
    if (seen !== undefined && now - seen < this.#ttlMs) return false;
    this.#ids.delete(id);
    this.#ids.set(id, now);
    if (this.#ids.size > this.#max) {
      for (const [key, at] of this.#ids) {
        if (now - at < this.#ttlMs) break;
        this.#ids.delete(key);
      }
      while (this.#ids.size > this.#max) this.#ids.delete(this.#ids.keys().next().value!);
    }
    return true;
  }
}
