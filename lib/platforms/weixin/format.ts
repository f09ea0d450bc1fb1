/**
 * How a reply becomes Weixin bubbles (section 3.8 of the iLink notes):
 * {@linkcode formatMessage} tidies the markdown, {@linkcode splitMessage} cuts
 * it into bubbles, {@linkcode flattenMarkdown} turns a bubble into plain text
 * and {@linkcode weixinChunks} does all three in order.
 *
 * Lengths are Unicode code points, as the reference counts Python `str`
 * length: "中" and "😀" are one each. A code fence is a line starting
 * (after indentation) with three backticks; each such line opens or closes one.
 *
 * @module
 */

/** Options of the Weixin formatter (config keys `split_multiline_messages`, `plain_text`). */
export interface WeixinFormatOptions {
  /** One bubble per top-level line (`split_multiline_messages`). */
  readonly splitMultiline: boolean;
  /** Flatten each bubble to plain text (`plain_text`). */
  readonly plainText: boolean;
  /** Longest bubble, in code points; {@linkcode WEIXIN_MAX_MESSAGE_LENGTH} when unset. */
  readonly maxLength?: number;
}

/** MAX_MESSAGE_LENGTH of the iLink API (3.1), in code points. */
export const WEIXIN_MAX_MESSAGE_LENGTH = 2000;

const WRAP_WIDTH = 120;
const CHATTY_LINE = 48;
const CHATTY_LINES = 6;
const LABEL = 24;

const HEADING = /^\s{0,3}#{1,6}(?:\s+|$)/;
const LIST_OR_QUOTE = /^(\s*)(?:((?:[-*+]|\d+[.)])\s+)|(?:>\s?)+)?/;
/** A word for wrapping: a link or an inline code span is one word, spaces and all. */
const WORD = /(?:!?\[[^\]\n]*\]\([^)\s]*\)|`[^`\n]*`|\S)+/g;
const CHATTY_EXCLUDED = /^(?:\s|[>\-*【#|]|\d+[.)、]|```|__.*__$)/;
const TABLE_RULE = /^[\s:|-]*-{3}[\s:|-]*$/;
const RULE = /^\s*(?:-{3,}|\*{3,}|_{3,})\s*$/;
const INLINE =
  /(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)|!?\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g;
const CJK_STOPS = new Set(["。", "！", "？", "；", "，", "、", "："]);

const size = (text: string): number => [...text].length;
const isFence = (line: string) => line.trimStart().startsWith("```");
const isTable = (line: string) => line.trimStart().startsWith("|");
const isBlank = (line: string) => line.trim() === "";

/**
 * format_message of 3.8: strips line ends, collapses blank runs to one line
 * outside fences (dropping leading and trailing ones) and wraps lines over 120
 * code points at spaces. Fences, table rows (`|…`) and headings are not
 * wrapped; links, inline code and longer words are not broken (so a CJK run
 * without spaces is not wrapped; splitting still cuts it). A wrapped list
 * item continues indented under its text, a quote repeats its `>` prefix, other
 * lines keep their indentation; spaces between words become single. 4-space
 * indented code is not recognised as code. `null` and `undefined` give "".
 *
 * @example
 * ```ts
 * formatMessage("Hi  \n\n\n\nthere"); // "Hi\n\nthere"
 * formatMessage(null); // ""
 * ```
 */
export function formatMessage(text: string | null | undefined): string {
  return tidy(text ?? "", true);
}

function tidy(text: string, wrap: boolean): string {
  const out: string[] = [];
  let inFence = false;
  for (const raw of text.replace(/\r\n?/g, "\n").split("\n")) {
    const line = raw.trimEnd();
    if (inFence || isFence(line)) {
      if (isFence(line)) inFence = !inFence;
      out.push(line);
    } else if (line === "") {
      if (out.length > 0 && out.at(-1) !== "") out.push("");
    } else out.push(...(wrap ? wrapLine(line) : [line]));
  }
  return out.join("\n").trimEnd();
}

function wrapLine(line: string): string[] {
  if (size(line) <= WRAP_WIDTH || isTable(line) || HEADING.test(line)) return [line];
  const [lead = "", indent = "", marker] = LIST_OR_QUOTE.exec(line) ?? [];
  const next = marker ? indent + " ".repeat(size(marker)) : lead;
  const lines: string[] = [];
  let current = lead;
  let width = size(lead);
  let fresh = true; // nothing but the prefix on `current` yet
  for (const word of line.slice(lead.length).match(WORD) ?? []) {
    const n = size(word);
    // A word starting with ``` must not begin a line: it would open a fence.
    if (!fresh && width + 1 + n > WRAP_WIDTH && !word.startsWith("```")) {
      lines.push(current);
      [current, width] = [next + word, size(next) + n];
    } else {
      [current, width] = [current + (fresh ? "" : " ") + word, width + (fresh ? 0 : 1) + n];
    }
    fresh = false;
  }
  lines.push(current);
  return lines;
}

/**
 * _split_text of 3.8 on formatted text, then {@linkcode flattenMarkdown} on
 * each bubble with `plainText`. No bubble is empty or blank; "" gives `[]`.
 *
 * Compact: text that fits is one bubble unless "chatty": 2–6 non-blank lines
 * of at most 48 code points, none indented, starting with `>` `-` `*` `【` `#`
 * `|`, a number and `.` `)` `、`, or a fence, nor a bold-only `__x__` line or a
 * table rule, and the first line no heading nor a label (≤ 24, ending in `:` or
 * `：`). Chatty text gives one bubble per line. Longer text is packed greedily
 * by block (paragraph, table, fence: split at blank lines and changes of kind),
 * keeping what separated them. A fence that fits is never cut; a longer one is
 * cut between lines and every piece reopened (with its language) and closed.
 * Other blocks are cut between lines; a line too long is cut at its last space,
 * else after its last CJK punctuation (。！？；，、：) in the last 70%, else hard
 * at `maxLength` (code lines: always hard, nothing dropped).
 *
 * `splitMultiline`: one bubble per top-level line; indented lines (and a blank
 * line before one) stay with the line above, a fence stays whole, table rows
 * stay together; a bubble too long is packed as above. Give it unwrapped text
 * ({@linkcode weixinChunks} does) or each wrapped line becomes a bubble.
 *
 * @example
 * ```ts
 * const options = { splitMultiline: false, plainText: false };
 * splitMessage("Hi!\nHow are you?", options); // ["Hi!", "How are you?"]
 * splitMessage("Steps:\nwash\nrinse", options); // ["Steps:\nwash\nrinse"]
 * ```
 */
export function splitMessage(text: string, options: WeixinFormatOptions): string[] {
  const max = maxLengthOf(options);
  const bubbles = options.splitMultiline
    ? lineGroups(text).flatMap((group) => fitOrPack(group, max))
    : isChatty(text, max)
    ? text.split("\n").filter((line) => !isBlank(line))
    : fitOrPack(text, max);
  return finish(bubbles, options.plainText);
}

/**
 * Everything at once: the bubbles to send, in order. Compact: format, split,
 * flatten. With `splitMultiline` the top-level lines are found before wrapping
 * and each is wrapped on its own, so a long paragraph stays one bubble.
 *
 * @example
 * ```ts
 * weixinChunks("**Done.**\nSee [the docs](https://example.com/docs).", {
 *   splitMultiline: true,
 *   plainText: true,
 * }); // ["Done.", "See the docs (https://example.com/docs)."]
 * ```
 */
export function weixinChunks(text: string, options: WeixinFormatOptions): string[] {
  if (!options.splitMultiline) return splitMessage(formatMessage(text), options);
  const max = maxLengthOf(options);
  const groups = lineGroups(tidy(text, false));
  return finish(groups.flatMap((group) => fitOrPack(tidy(group, true), max)), options.plainText);
}

function maxLengthOf(options: WeixinFormatOptions): number {
  const max = options.maxLength ?? WEIXIN_MAX_MESSAGE_LENGTH;
  if (!Number.isInteger(max) || max < 1) {
    throw new RangeError(`Cannot use maxLength "${max}": not a positive integer`);
  }
  return max;
}

function finish(bubbles: string[], plainText: boolean): string[] {
  return (plainText ? bubbles.map(flattenMarkdown) : bubbles)
    .map((bubble) => bubble.trimEnd())
    .filter((bubble) => !isBlank(bubble));
}

function isChatty(text: string, max: number): boolean {
  const lines = text.split("\n").filter((line) => !isBlank(line));
  if (size(text) > max || lines.length < 2 || lines.length > CHATTY_LINES) return false;
  const chatty = (line: string) =>
    size(line) <= CHATTY_LINE && !CHATTY_EXCLUDED.test(line) && !TABLE_RULE.test(line);
  const first = lines[0]!;
  return lines.every(chatty) && !HEADING.test(first) &&
    !(size(first) <= LABEL && /[:：]$/.test(first));
}

function lineGroups(text: string): string[] {
  const groups: string[][] = [];
  let blank = false;
  let inFence = false;
  for (const line of text.split("\n")) {
    const current = groups.at(-1);
    if (inFence && current) {
      current.push(line);
      inFence = !isFence(line);
      continue;
    }
    if (isBlank(line)) {
      blank = current !== undefined;
      continue;
    }
    const table = isTable(line) && !blank && isTable(current?.at(-1) ?? "");
    if (current && (/^\s/.test(line) || table)) current.push(...(blank ? ["", line] : [line]));
    else groups.push([line]);
    blank = false;
    inFence = isFence(line);
  }
  return groups.map((lines) => lines.join("\n"));
}

interface Block {
  readonly kind: "text" | "table" | "fence";
  readonly lines: string[];
  /** What separated it from the block before: "", "\n" or "\n\n". */
  readonly gap: string;
}

function blocksOf(text: string): Block[] {
  const blocks: Block[] = [];
  let current: Block | undefined;
  let blank = false;
  let inFence = false;
  for (const line of text.split("\n")) {
    if (inFence && current) {
      current.lines.push(line);
      inFence = !isFence(line);
    } else if (isBlank(line)) {
      [current, blank] = [undefined, true];
    } else {
      const kind = isFence(line) ? "fence" : isTable(line) ? "table" : "text";
      if (current?.kind === kind && kind !== "fence") current.lines.push(line);
      else {
        const gap = blocks.length === 0 ? "" : blank ? "\n\n" : "\n";
        current = { kind, lines: [line], gap };
        blocks.push(current);
        [blank, inFence] = [false, kind === "fence"];
      }
    }
  }
  return blocks;
}

function fitOrPack(text: string, max: number): string[] {
  if (size(text) <= max) return [text];
  return pack(
    blocksOf(text).flatMap((block) =>
      piecesOf(block, max).map((piece, i): [string, string] => [i === 0 ? block.gap : "\n", piece])
    ),
    max,
  );
}

function piecesOf(block: Block, max: number): string[] {
  const text = block.lines.join("\n");
  if (size(text) <= max) return [text];
  if (block.kind === "fence") return splitFence(block.lines, max);
  return block.lines.flatMap((line) => hardSplit(line, max, false));
}

/** Cuts an oversized fence between lines; every piece is reopened and closed. */
function splitFence(lines: string[], max: number): string[] {
  const open = lines[0]!;
  const closed = lines.length > 1 && isFence(lines.at(-1)!);
  const close = closed ? lines.at(-1)! : /^\s*`+/.exec(open)![0];
  const budget = max - size(open) - size(close) - 2;
  // No room for a line between the fence lines: cut the raw lines instead.
  if (budget < 1) return lines.flatMap((line) => hardSplit(line, max, true));
  const body = lines.slice(1, closed ? -1 : undefined).flatMap((line) =>
    hardSplit(line, budget, true)
  );
  return pack(body.map((line) => ["\n", line]), budget).map((code) => `${open}\n${code}\n${close}`);
}

/** Joins `parts` (each with what goes before it) greedily into texts of at most `max`. */
function pack(parts: [gap: string, text: string][], max: number): string[] {
  const out: string[] = [];
  let [current, width, empty] = ["", 0, true];
  for (const [gap, text] of parts) {
    const n = size(text);
    if (!empty && width + gap.length + n <= max) {
      [current, width] = [current + gap + text, width + gap.length + n];
    } else {
      if (!empty) out.push(current);
      [current, width, empty] = [text, n, false];
    }
  }
  if (!empty) out.push(current);
  return out;
}

/** Cuts one line into parts of at most `max` code points; `exact`: no looking for a break. */
function hardSplit(line: string, max: number, exact: boolean): string[] {
  const parts: string[] = [];
  let rest = [...line];
  while (rest.length > max) {
    let [cut, skip] = [max, 0];
    if (!exact) {
      const floor = Math.floor(max * 0.3);
      let space = rest.lastIndexOf(" ", max);
      // Never start a part with ```: it would open a fence.
      while (space > floor && rest.slice(space + 1, space + 4).join("") === "```") {
        space = rest.lastIndexOf(" ", space - 1);
      }
      const stop = rest.slice(0, max).findLastIndex((char) => CJK_STOPS.has(char));
      if (space > floor) [cut, skip] = [space, 1];
      else if (stop >= floor) cut = stop + 1;
    }
    parts.push(rest.slice(0, cut).join(""));
    rest = rest.slice(cut + skip);
  }
  parts.push(rest.join(""));
  return exact ? parts : parts.map((part) => part.trim()).filter((part) => part !== "");
}

/**
 * The flattening of 3.8 (`plain_text`) on one bubble. Removed: bold (`**x**`,
 * `__x__`), italic at word boundaries (`_x_` touching no letter, digit or `_`
 * outside, so snake_case survives; `*x*` no ASCII word character, so `中文*强调*`
 * is flattened and `2*3*4` is not), inline code backticks, heading markers,
 * lines of only `---`, `***` or `___`, fence lines (the code between is kept
 * verbatim). A link `[text](url)` (or image) becomes its text (3.8), or its
 * url when it has no text. Blank runs collapse. Never longer than the input.
 *
 * @example
 * ```ts
 * flattenMarkdown("## Result\n**ok**: see [docs](https://example.com), `my_var`");
 * // "Result\nok: see docs, my_var"
 * ```
 */
export function flattenMarkdown(chunk: string): string {
  const out: string[] = [];
  let inFence = false;
  for (const line of chunk.split("\n")) {
    if (isFence(line)) inFence = !inFence;
    else if (inFence) out.push(line);
    else if (!RULE.test(line)) {
      const heading = HEADING.exec(line);
      const body = heading ? line.slice(heading[0].length).replace(/\s+#+$/, "") : line;
      const flat = flattenInline(body).trimEnd();
      if (flat !== "" || (out.length > 0 && out.at(-1) !== "")) out.push(flat);
    }
  }
  return out.join("\n").replace(/^\n+/, "").trimEnd();
}

function flattenInline(text: string): string {
  let out = "";
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    out += emphasis(text.slice(last, m.index));
    const [, , code, label, url] = m;
    out += code !== undefined
      ? code.replace(/^ (.*) $/, "$1")
      : linkText(flattenInline(label!), url!);
    last = m.index + m[0].length;
  }
  return out + emphasis(text.slice(last));
}

function linkText(text: string, url: string): string {
  return text === "" ? url : text;
}

function emphasis(text: string): string {
  return text
    .replace(/\*\*(?=\S)(.+?)(?<=\S)\*\*/g, "$1")
    .replace(/(?<![\p{L}\p{N}_])__(?=\S)(.+?)(?<=\S)__(?![\p{L}\p{N}_])/gu, "$1")
    .replace(/(?<![\w*\\])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])/g, "$1")
    .replace(/(?<![\p{L}\p{N}_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\p{L}\p{N}_])/gu, "$1");
}
