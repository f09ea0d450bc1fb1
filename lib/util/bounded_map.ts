/**
 * A Map with a size cap, for what the gateway keeps per chat or per user:
 * past the cap the least recently set entry goes, so a gateway that meets
 * millions of chats over months holds only the recent ones.
 *
 * @module
 */

/** Options of {@linkcode BoundedMap}. */
export interface BoundedMapOptions<K, V> {
  /** Called with each entry the cap pushed out (not with those deleted by hand). */
  readonly onEvict?: (key: K, value: V) => void;
}

/**
 * A Map of at most `maxSize` entries. `set` makes its key the newest (also
 * when it was there); when the map then holds more than `maxSize`, the oldest
 * entries go. Only use it where losing an old entry is safe (a cache, or an
 * entry whose `onEvict` hands its content on).
 *
 * @example
 * ```ts
 * const tickets = new BoundedMap<string, string>(2);
 * tickets.set("alice", "t1").set("bob", "t2").set("alice", "t3").set("carol", "t4");
 * [...tickets.keys()]; // ["alice", "carol"]: bob was the least recently set
 * ```
 */
export class BoundedMap<K, V> extends Map<K, V> {
  /** Most entries kept. */
  readonly maxSize: number;
  readonly #onEvict: ((key: K, value: V) => void) | undefined;

  constructor(
    maxSize: number,
    entries: Iterable<readonly [K, V]> = [],
    options: BoundedMapOptions<K, V> = {},
  ) {
    // Entries go in below, once the fields set() needs exist.
    super();
    if (!(Number.isInteger(maxSize) && maxSize > 0)) {
      throw new RangeError(`Cannot bound a map to ${maxSize} entries: use a positive integer`);
    }
    this.maxSize = maxSize;
    this.#onEvict = options.onEvict;
    for (const [key, value] of entries) this.set(key, value);
  }

  /** Sets `key` as the newest entry, then drops the oldest ones over the cap. */
  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    while (this.size > this.maxSize) {
      const [oldKey, oldValue] = this.entries().next().value!;
      super.delete(oldKey);
      this.#onEvict?.(oldKey, oldValue);
    }
    return this;
  }
}
