/**
 * Joins the pieces of a long message: clients split long input into
 * several messages sent moments apart (WeCom at about 4,000 characters,
 * Weixin at about 2,000). Texts of one sender in one chat are held while
 * more keep coming (a platform's quiet time, longer after a piece near its
 * client's split length) and handed on as one.
 *
 * @module
 */

/** What {@linkcode TextBatcher} needs. */
export interface TextBatcherOptions<T> {
  /** Quiet time after an ordinary piece (0: no batching). */
  readonly delayMs: number;
  /** Quiet time after a piece of `splitThreshold` characters or more. */
  readonly splitDelayMs: number;
  /** Length from which a piece reads as split off a longer one (default 3,900). */
  readonly splitThreshold?: number;
  /** Joins the held pieces into one (oldest first). */
  readonly merge: (pieces: readonly T[]) => T;
  /** Receives each joined message. */
  readonly deliver: (item: T) => void;
}

interface Batch<T> {
  readonly pieces: T[];
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Holds texts per key until they stop coming.
 *
 * @example
 * ```ts
 * const batcher = new TextBatcher({ delayMs: 600, splitDelayMs: 2000, merge, deliver });
 * batcher.add("g1:alice", piece, piece.text);
 * ```
 */
export class TextBatcher<T> {
  readonly #options: TextBatcherOptions<T>;
  readonly #batches = new Map<string, Batch<T>>();

  constructor(options: TextBatcherOptions<T>) {
    this.#options = options;
  }

  /** Pieces held now, all keys together. */
  get held(): number {
    let n = 0;
    for (const batch of this.#batches.values()) n += batch.pieces.length;
    return n;
  }

  /** Adds a piece of `text` under `key`; without a delay it is delivered at once. */
  add(key: string, item: T, text: string): void {
    const { delayMs, splitDelayMs, splitThreshold = 3900 } = this.#options;
    if (delayMs <= 0) return this.#options.deliver(item);
    const wait = text.length >= splitThreshold ? Math.max(splitDelayMs, delayMs) : delayMs;
    const batch = this.#batches.get(key);
    if (batch) clearTimeout(batch.timer);
    const pieces = batch?.pieces ?? [];
    pieces.push(item);
    const timer = setTimeout(() => this.flush(key), wait);
    this.#batches.set(key, { pieces, timer });
  }

  /** Delivers what `key` holds now (before a message that must not overtake it). */
  flush(key: string): void {
    const batch = this.#batches.get(key);
    if (!batch) return;
    clearTimeout(batch.timer);
    this.#batches.delete(key);
    this.#options.deliver(
      batch.pieces.length === 1 ? batch.pieces[0]! : this.#options.merge(batch.pieces),
    );
  }

  /** Delivers everything held (the link is closing). */
  flushAll(): void {
    for (const key of [...this.#batches.keys()]) this.flush(key);
  }
}
