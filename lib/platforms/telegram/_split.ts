/**
 * Telegram HTML as atoms (a tag, or one visible character with how it is
 * written: `a`, `😀`, `&amp;`), and the splitter that packs atoms into
 * messages of at most `limit` visible UTF-16 units. Cutting only between
 * atoms means a tag, an entity or a surrogate pair is never cut.
 *
 * @module
 */

/** One piece of Telegram HTML. */
export interface Atom {
  /** How it is written. */
  readonly raw: string;
  /** What it shows ("" for a tag); its `.length` is what Telegram counts. */
  readonly text: string;
  /** For a tag: its lower-case name and whether it closes. */
  readonly tag?: { readonly name: string; readonly close: boolean };
}

const TAG = /<(\/?)([A-Za-z][A-Za-z0-9-]*)(?:\s[^<>]*)?>/y;
const ENTITY = /&(?:#([0-9]{1,7})|#[xX]([0-9A-Fa-f]{1,6})|(lt|gt|amp|quot));/y;
const NAMED: Readonly<Record<string, string>> = { lt: "<", gt: ">", amp: "&", quot: '"' };
const REPAIR: Readonly<Record<string, string>> = { "<": "&lt;", ">": "&gt;", "&": "&amp;" };
/** Characters that belong to the one before them: never cut in front of one. */
const CLINGS = /^(?:\p{M}|\u200d|\ufe0f|[\u{1f3fb}-\u{1f3ff}]|[\u{e0020}-\u{e007f}])$/u;
/** Punctuation after which CJK text (which has no spaces) may be cut. */
const CJK_STOPS = new Set(["。", "！", "？", "；", "，", "、", "："]);
const EMPTY_PAIR = /<([a-z][a-z0-9-]*)(?:\s[^<>]*)?><\/\1>/gi;

/**
 * Reads Telegram HTML into atoms. Bare `<`, `>` and `&` that start no tag or
 * entity are read as text and written escaped, so a chunk of even sloppy
 * input parses.
 */
export function htmlAtoms(html: string): Atom[] {
  const atoms: Atom[] = [];
  let i = 0;
  while (i < html.length) {
    const char = String.fromCodePoint(html.codePointAt(i)!);
    const [atom, size] = tagOrEntity(html, i, char) ??
      [{ raw: REPAIR[char] ?? char, text: char }, char.length];
    atoms.push(atom);
    i += size;
  }
  return atoms;
}

function tagOrEntity(html: string, at: number, char: string): [Atom, number] | undefined {
  if (char === "<") {
    TAG.lastIndex = at;
    const m = TAG.exec(html);
    if (!m) return undefined;
    return [
      { raw: m[0], text: "", tag: { name: m[2]!.toLowerCase(), close: m[1] === "/" } },
      m[0].length,
    ];
  }
  if (char !== "&") return undefined;
  ENTITY.lastIndex = at;
  const m = ENTITY.exec(html);
  if (!m) return undefined;
  if (m[3] !== undefined) return [{ raw: m[0], text: NAMED[m[3].toLowerCase()]! }, m[0].length];
  const code = m[1] !== undefined ? Number(m[1]) : parseInt(m[2]!, 16);
  // A code point Telegram would refuse is text: the "&" is escaped.
  if (code < 1 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined;
  return [{ raw: m[0], text: String.fromCodePoint(code) }, m[0].length];
}

/** Plain text as atoms: one per code point. */
export function textAtoms(text: string): Atom[] {
  return Array.from(text, (char) => ({ raw: char, text: char }));
}

/** The open tags after `atoms[from..to)`, given those open at `from`. */
function openTags(open: readonly Atom[], atoms: readonly Atom[], from: number, to: number): Atom[] {
  const stack = [...open];
  for (let i = from; i < to; i++) {
    const tag = atoms[i]!.tag;
    if (!tag) continue;
    if (!tag.close) stack.push(atoms[i]!);
    else {
      const at = stack.findLastIndex((atom) => atom.tag!.name === tag.name);
      if (at >= 0) stack.splice(at, 1);
    }
  }
  return stack;
}

interface Cut {
  /** The chunk ends before this atom. */
  readonly end: number;
  /** The next chunk starts at this atom (after the separator, which is dropped). */
  readonly next: number;
  /** Visible width of the chunk so far. */
  readonly width: number;
}

const isSpace = (atom: Atom | undefined) => atom !== undefined && /^\s$/u.test(atom.text);

/**
 * Packs atoms into chunks of at most `limit` visible UTF-16 units, cutting at
 * the last blank line, else line end, else space (or CJK stop) in the second
 * half of the chunk, else as late as possible between characters (never in
 * front of a combining mark, joiner or variation selector). Tags open at a
 * cut are closed at the end of the chunk and opened again (with the same
 * attributes) at the start of the next. Blank chunks are dropped.
 */
export function splitAtoms(atoms: readonly Atom[], limit: number): string[] {
  if (!Number.isInteger(limit) || limit < 2) {
    throw new RangeError(`Cannot split at limit "${limit}": not an integer of at least 2`);
  }
  const chunks: string[] = [];
  let open: Atom[] = [];
  let start = 0;
  while (start < atoms.length) {
    const cut = nextCut(atoms, start, limit);
    let end = cut.end;
    while (end > start && isSpace(atoms[end - 1])) end--;
    const closing = openTags(open, atoms, start, end);
    const body = atoms.slice(start, end);
    if (body.some((atom) => atom.text.trim() !== "")) {
      const html = open.map((atom) => atom.raw).join("") + body.map((atom) => atom.raw).join("") +
        closing.toReversed().map((atom) => `</${atom.tag!.name}>`).join("");
      chunks.push(dropEmptyPairs(html));
    }
    open = openTags(open, atoms, start, cut.next);
    start = cut.next;
    // A new chunk starts at its text, not at the line ends between chunks.
    while (start < atoms.length && atoms[start]!.text === "\n") start++;
  }
  return chunks;
}

function nextCut(atoms: readonly Atom[], start: number, limit: number): Cut {
  let paragraph: Cut | undefined;
  let line: Cut | undefined;
  let word: Cut | undefined;
  let width = 0;
  let i = start;
  for (; i < atoms.length; i++) {
    const atom = atoms[i]!;
    if (atom.tag) continue;
    // A separator is dropped at a cut, so it may stand just past the limit.
    if (atom.text === "\n") {
      if (atoms[i + 1]?.text === "\n") paragraph = { end: i, next: i + 2, width };
      else line = { end: i, next: i + 1, width };
    } else if (isSpace(atom)) word = { end: i, next: i + 1, width };
    if (width + atom.text.length > limit) break;
    width += atom.text.length;
    if (CJK_STOPS.has(atom.text)) word = { end: i + 1, next: i + 1, width };
  }
  if (i >= atoms.length) return { end: i, next: i, width };
  for (const cut of [paragraph, line, word]) {
    if (cut && cut.width >= limit / 2) return cut;
  }
  // No boundary late enough: cut between characters, but not inside a cluster.
  let end = i;
  while (end > start + 1 && (CLINGS.test(atoms[end]!.text) || atoms[end - 1]!.text === "\u200d")) {
    end--;
  }
  while (end > start + 1 && atoms[end - 1]!.tag && !atoms[end - 1]!.tag!.close) end--;
  return { end, next: end, width };
}

function dropEmptyPairs(html: string): string {
  let out = html;
  for (let before = ""; before !== out;) [before, out] = [out, out.replace(EMPTY_PAIR, "")];
  return out;
}
