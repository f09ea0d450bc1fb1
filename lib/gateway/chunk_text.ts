/**
 * Splits a reply into messages no longer than a platform allows: at
 * paragraph, line or word boundaries where possible, never inside a UTF-16
 * surrogate pair, and never leaving a code fence open: a fence cut in two is
 * closed at the end of one part and reopened (with its language) at the
 * start of the next, so every part renders on its own.
 *
 * @module
 */

/** One part of a split text. */
export interface TextChunk {
  /** The part as sent (fences closed and reopened as needed). */
  readonly text: string;
  /** Offset in the source text just after what this part covers. */
  readonly end: number;
}

const FENCE_CLOSE = "\n```";

/**
 * Splits `text` into parts of at most `maxLength` UTF-16 code units, or
 * UTF-8 bytes with `unit: "bytes"` (platforms that count bytes).
 *
 * @example
 * ```ts
 * chunkText("first\n\nsecond\n\nthird", 12).map((c) => c.text); // ["first", "second", "third"]
 * chunkText("中".repeat(1000), 2048, "bytes").length; // 2 (682 characters, 2046 bytes, then the rest)
 * ```
 */
export function chunkText(
  text: string,
  maxLength: number,
  unit: "utf16" | "bytes" = "utf16",
): TextChunk[] {
  const size = unit === "bytes" ? byteLength : (s: string) => s.length;
  // How many UTF-16 units of `s` fit in `budget` (of the platform's unit).
  const fit = unit === "bytes"
    ? unitsWithinBytes
    : (s: string, budget: number) => Math.min(s.length, budget);
  if (size(text) <= maxLength) return [{ text, end: text.length }];
  const chunks: TextChunk[] = [];
  let pos = 0;
  let reopen = ""; // the fence line to repeat when the previous part ended inside a fence
  while (pos < text.length) {
    const lead = /^\n+/.exec(text.slice(pos))?.[0].length ?? 0;
    pos += lead;
    if (pos >= text.length) break;
    const prefix = reopen ? reopen + "\n" : "";
    const rest = text.slice(pos);
    if (size(prefix) + size(rest) <= maxLength) {
      pushChunk(chunks, prefix + rest, text.length);
      break;
    }
    // Room for a closing fence is kept only when the part would end inside one.
    let cut = cutAt(rest, Math.max(1, fit(rest, maxLength - size(prefix))));
    let openFence = fenceOpenAtEnd(rest.slice(0, cut), reopen);
    if (openFence) {
      cut = cutAt(rest, Math.max(1, fit(rest, maxLength - size(prefix) - FENCE_CLOSE.length)));
      openFence = fenceOpenAtEnd(rest.slice(0, cut), reopen);
    }
    const piece = rest.slice(0, cut);
    const body = (prefix + piece).replace(/\s+$/, "");
    pushChunk(chunks, openFence ? body + FENCE_CLOSE : body, pos + cut);
    reopen = openFence ?? "";
    pos += cut;
  }
  return chunks;
}

function pushChunk(chunks: TextChunk[], text: string, end: number): void {
  if (text.trim().length === 0) return; // no empty or whitespace-only messages
  chunks.push({ text, end });
}

/** Where to cut `text` for a part of at most `budget` units, never inside a surrogate pair. */
function cutAt(text: string, budget: number): number {
  const cut = breakPoint(text, budget);
  return isHighSurrogate(text.charCodeAt(cut - 1)) && cut > 1 ? cut - 1 : cut;
}

/** Where to cut `text` so the part is at most `budget` long: the latest good boundary. */
function breakPoint(text: string, budget: number): number {
  const window = text.slice(0, budget + 1);
  const floor = Math.floor(budget * 0.3);
  for (const boundary of ["\n\n", "\n", " "]) {
    const at = window.lastIndexOf(boundary, budget - 1);
    if (at > floor) return at + boundary.length;
  }
  return budget;
}

/**
 * The fence line (e.g. "```python") still open at the end of `piece`, given
 * the fence `alreadyOpen` at its start; undefined when every fence closed.
 */
function fenceOpenAtEnd(piece: string, alreadyOpen: string): string | undefined {
  let open: string | undefined = alreadyOpen || undefined;
  for (const line of piece.split("\n")) {
    const trimmed = line.trimStart();
    if (!trimmed.startsWith("```")) continue;
    open = open === undefined ? trimmed.trimEnd() : undefined;
  }
  return open;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

const encoder = new TextEncoder();

function byteLength(text: string): number {
  return encoder.encode(text).length;
}

/** How many UTF-16 units of `text`, from its start, take at most `budget` UTF-8 bytes. */
function unitsWithinBytes(text: string, budget: number): number {
  let bytes = 0;
  let units = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + size > budget) break;
    bytes += size;
    units += char.length;
  }
  return units;
}
