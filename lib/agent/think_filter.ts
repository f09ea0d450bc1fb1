/**
 * Hides reasoning: `<think>...</think>` blocks that begin at a block boundary
 * (the start of the reply or of a line) are removed from the stream users
 * see, even when the tags arrive split across deltas. A `<think>` in the
 * middle of a sentence is text and stays.
 *
 * @module
 */

const OPEN = "<think>";
const CLOSE = "</think>";

/**
 * Filters think-blocks out of a stream of deltas.
 *
 * @example
 * ```ts
 * async function* deltas() { yield "<thi"; yield "nk>plan</think>\nHello"; }
 * for await (const d of filterThinkBlocks(deltas())) console.log(d); // "Hello"
 * ```
 */
export async function* filterThinkBlocks(deltas: AsyncIterable<string>): AsyncIterable<string> {
  const filter = new ThinkFilter();
  for await (const delta of deltas) {
    const out = filter.push(delta);
    if (out) yield out;
  }
  const rest = filter.end();
  if (rest) yield rest;
}

/** The filter's state machine, fed piece by piece. */
export class ThinkFilter {
  #pending = "";
  #inThink = false;
  #atBoundary = true;
  #afterThink = false;

  /** Adds a delta; returns the text that can be shown now. */
  push(delta: string): string {
    this.#pending += delta;
    let out = "";
    while (this.#pending.length > 0) {
      if (this.#inThink) {
        const close = this.#pending.indexOf(CLOSE);
        if (close < 0) {
          this.#pending = this.#pending.slice(-(CLOSE.length - 1)); // may hold a split tag
          return out;
        }
        this.#pending = this.#pending.slice(close + CLOSE.length);
        this.#inThink = false;
        this.#afterThink = true;
        continue;
      }
      if (this.#afterThink) {
        const trimmed = this.#pending.replace(/^\s+/, "");
        if (trimmed.length === 0) {
          this.#pending = "";
          return out;
        }
        this.#pending = trimmed;
        this.#afterThink = false;
      }
      if (this.#atBoundary) {
        const lead = /^[ \t]*/.exec(this.#pending)![0];
        const rest = this.#pending.slice(lead.length);
        if (rest.startsWith(OPEN)) {
          this.#pending = rest.slice(OPEN.length);
          this.#inThink = true;
          continue;
        }
        if (OPEN.startsWith(rest)) return out; // could still become "<think>"
      }
      const newline = this.#pending.indexOf("\n");
      if (newline < 0) {
        out += this.#pending;
        this.#pending = "";
        this.#atBoundary = false;
      } else {
        out += this.#pending.slice(0, newline + 1);
        this.#pending = this.#pending.slice(newline + 1);
        this.#atBoundary = true;
      }
    }
    return out;
  }

  /** Ends the stream: an unclosed think-block is dropped, held text is released. */
  end(): string {
    const rest = this.#inThink ? "" : this.#pending;
    this.#pending = "";
    return this.#afterThink ? rest.replace(/^\s+/, "") : rest;
  }
}
