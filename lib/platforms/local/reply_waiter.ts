/**
 * Collects the reply to one API request as the pipeline delivers it (new
 * messages and edits of them) and turns it into text deltas in order.
 *
 * @module
 */

/**
 * The reply to one inbound message, piece by piece.
 *
 * @example
 * ```ts
 * const waiter = new ReplyWaiter({ streaming: true });
 * waiter.onDelta = (d) => console.log(d);
 * waiter.update("m1", "Hel"); waiter.update("m1", "Hello"); // "Hel", "lo"
 * waiter.end();
 * await waiter.done; // "Hello"
 * ```
 */
export class ReplyWaiter {
  readonly #parts = new Map<string, string>();
  readonly #settled = Promise.withResolvers<string>();
  /** The client reads the reply as it grows (a streaming request): previews are for it. */
  readonly streaming: boolean;
  /** Receives each new piece of text. */
  onDelta: ((delta: string) => void) | undefined;

  constructor(options: { streaming?: boolean } = {}) {
    this.streaming = options.streaming ?? false;
  }

  /** Resolves with the whole reply once the pipeline is done; rejects when it never will be. */
  get done(): Promise<string> {
    return this.#settled.promise;
  }

  /** A message of the reply was sent or edited to `text`. */
  update(messageId: string, text: string): void {
    const previous = this.#parts.get(messageId);
    if (previous === undefined && this.#parts.size > 0) this.#emit("\n\n");
    const shown = previous ?? "";
    if (text.startsWith(shown)) {
      this.#emit(text.slice(shown.length));
    } else {
      // Sent text cannot be taken back: when only whitespace the client already
      // has differs (a trimmed tail before a note), continue after it.
      let common = 0;
      while (common < shown.length && shown[common] === text[common]) common++;
      if (shown.slice(common).trim() === "") this.#emit(text.slice(common));
    }
    this.#parts.set(messageId, text);
  }

  /** The pipeline is done with the message. */
  end(): void {
    this.#settled.resolve([...this.#parts.values()].join("\n\n"));
  }

  /** The reply will not be finished here (the gateway stops first); `reason` is for the client. */
  fail(reason: string): void {
    this.#settled.reject(new Error(reason));
  }

  #emit(delta: string): void {
    if (delta) this.onDelta?.(delta);
  }
}
