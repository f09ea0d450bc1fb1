/**
 * Joins the pieces of a long message: clients split long input into
 * several messages sent moments apart (WeCom at about 4,000 characters,
 * Weixin at about 2,000). Texts of one sender in one chat are held while
 * more keep coming (a platform's quiet time, longer after a piece near its
 * client's split length) and handed on as one.
 *
 * Bounded: at most {@linkcode MAX_BATCH_KEYS} senders are held at once (one
 * more hands the least recently added-to batch on early) and at most
 * {@linkcode MAX_BATCH_PIECES} pieces per sender (the last one hands the
 * batch on at once). Either way nothing is dropped: a batch only goes early.
 *
 * @module
 */

import { BoundedMap } from "../util/bounded_map.ts";

/** Most senders whose pieces are held at once. */
export const MAX_BATCH_KEYS = 1000;
/** Most pieces held for one sender. */
export const MAX_BATCH_PIECES = 50;

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
  /** Default {@linkcode MAX_BATCH_KEYS}. */
  readonly maxKeys?: number;
  /** Default {@linkcode MAX_BATCH_PIECES}. */
  readonly maxPieces?: number;
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
 * const batcher = new TextBatcher<{ text: string }>({
 *   delayMs: 600,
 *   splitDelayMs: 2000,
 *   merge: (pieces) => ({ text: pieces.map((p) => p.text).join("\n") }),
 *   deliver: (joined) => console.log(joined.text),
 * });
 * const piece = { text: "first line" };
 * batcher.add("g1:alice", piece, piece.text);
 * ```
 */
export class TextBatcher<T> {
  readonly #options: TextBatcherOptions<T>;
  readonly #batches: BoundedMap<string, Batch<T>>;

  constructor(options: TextBatcherOptions<T>) {
    this.#options = options;
    this.#batches = new BoundedMap(options.maxKeys ?? MAX_BATCH_KEYS, [], {
      onEvict: (_key, batch) => this.#deliver(batch),
    });
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
    if (pieces.length >= (this.#options.maxPieces ?? MAX_BATCH_PIECES)) this.flush(key);
  }

  /** Delivers what `key` holds now (before a message that must not overtake it). */
  flush(key: string): void {
    const batch = this.#batches.get(key);
    if (!batch) return;
    this.#batches.delete(key);
    this.#deliver(batch);
  }

  /** Delivers everything held (the link is closing). */
  flushAll(): void {
    for (const key of [...this.#batches.keys()]) this.flush(key);
  }

  #deliver(batch: Batch<T>): void {
    clearTimeout(batch.timer);
    this.#options.deliver(
      batch.pieces.length === 1 ? batch.pieces[0]! : this.#options.merge(batch.pieces),
    );
  }
}
