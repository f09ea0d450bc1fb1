/**
 * The HTML parse mode of the Bot API, written from section 2 of
 * `shared/protocols/telegram.md` after the algorithm of TDLib's
 * `parse_html`. Tags: b/strong, i/em, u/ins, s/strike/del, tg-spoiler (and
 * `<span class="tg-spoiler">`), a href, tg-emoji emoji-id, code, pre,
 * `<pre><code class="language-x">`, blockquote (with `expandable`). Named
 * entities are only `&lt; &gt; &amp; &quot;`; numeric ones work. Any other
 * tag (`<br>`, `<p>`, `<email@x.y>`) and a bare `<` are errors, with TDLib's
 * wording and UTF-8 byte offsets.
 *
 * Assumptions where the document is silent: a `&` that starts no known
 * entity stays a literal `&` (TDLib's behaviour; the document only says to
 * escape it); a bare `>` is text; an attribute other than the ones above is
 * ignored; `<a>` without href links its own text.
 *
 * @module
 */

import {
  EntityParseError,
  type FormattedText,
  linkEntity,
  type MessageEntity,
  sortEntities,
  utf8Offset,
} from "./_telegram_entities.ts";

const TAGS: Record<string, string> = {
  a: "text_link",
  b: "bold",
  strong: "bold",
  i: "italic",
  em: "italic",
  u: "underline",
  ins: "underline",
  s: "strikethrough",
  strike: "strikethrough",
  del: "strikethrough",
  "tg-spoiler": "spoiler",
  span: "spoiler",
  "tg-emoji": "custom_emoji",
  code: "code",
  pre: "pre",
  blockquote: "blockquote",
};
const NAMED: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"' };
const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);

interface Open {
  tag: string;
  argument: string;
  offset: number;
  /** For a pre: the language its inner code gave it. */
  language?: string;
}

/** The character an entity at `i` stands for and the index after it, or undefined. */
function decodeEntity(text: string, i: number): { char: string; end: number } | undefined {
  const match = /^&(?:#x([0-9a-f]{1,8})|#([0-9]{1,10})|([a-z]{2,4}));/i.exec(text.slice(i, i + 13));
  if (!match) return undefined;
  const [whole, hex, dec, name] = match;
  const end = i + whole.length;
  if (name !== undefined) {
    const char = NAMED[name];
    return char === undefined ? undefined : { char, end };
  }
  const code = parseInt(hex ?? dec!, hex ? 16 : 10);
  if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined;
  return { char: String.fromCodePoint(code), end };
}

/**
 * Parses a Bot API HTML text into plain text and entities; throws an
 * {@linkcode EntityParseError} with TDLib's wording when it does not parse.
 *
 * @example
 * ```ts
 * parseHtml("<b>bold</b> &amp; more");
 * // { text: "bold & more", entities: [{ type: "bold", offset: 0, length: 4 }] }
 * ```
 */
export function parseHtml(text: string): FormattedText {
  let out = "";
  const entities: MessageEntity[] = [];
  const stack: Open[] = [];
  const fail = (message: string, at?: number): never => {
    throw new EntityParseError(
      at === undefined ? message : `${message} at byte offset ${utf8Offset(text, at)}`,
    );
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "&") {
      const decoded = decodeEntity(text, i);
      if (decoded) {
        out += decoded.char;
        i = decoded.end - 1;
        continue;
      }
    }
    if (c !== "<") {
      out += c;
      continue;
    }
    const begin = i;
    if (text[i + 1] !== "/") {
      i++;
      while (i < text.length && !isSpace(text[i]) && text[i] !== ">") i++;
      if (i >= text.length) fail("Unclosed start tag", begin);
      const tag = text.slice(begin + 1, i).toLowerCase();
      if (!(tag in TAGS)) fail(`Unsupported start tag "${tag}"`, begin);
      let argument = "";
      while (text[i] !== ">") {
        while (isSpace(text[i])) i++;
        if (text[i] === ">") break;
        const nameStart = i;
        while (i < text.length && !isSpace(text[i]) && text[i] !== "=" && text[i] !== ">") i++;
        const name = text.slice(nameStart, i).toLowerCase();
        if (i >= text.length) fail("Unclosed start tag", begin);
        while (isSpace(text[i])) i++;
        if (text[i] !== "=") {
          if (tag === "blockquote" && name === "expandable") {
            argument = "expandable";
            continue;
          }
          fail(`Expected equal sign in declaration of an attribute of the tag "${tag}"`, begin);
        }
        i++;
        while (isSpace(text[i])) i++;
        if (i >= text.length) fail("Unclosed start tag", begin);
        let value = "";
        const quote = text[i];
        if (quote !== "'" && quote !== '"') {
          while (i < text.length && /[A-Za-z0-9.-]/.test(text[i]!)) value += text[i++];
        } else {
          i++;
          while (i < text.length && text[i] !== quote) {
            const decoded = text[i] === "&" ? decodeEntity(text, i) : undefined;
            if (decoded) {
              value += decoded.char;
              i = decoded.end;
            } else {
              value += text[i++];
            }
          }
          if (i >= text.length) fail("Unclosed start tag", begin);
          i++;
        }
        if (i >= text.length) fail("Unclosed start tag", begin);
        if (tag === "a" && name === "href") argument = value;
        if (tag === "code" && name === "class" && value.startsWith("language-")) {
          argument = value.slice(9);
        }
        if (tag === "span" && name === "class") argument = value;
        if (tag === "tg-emoji" && name === "emoji-id") argument = value;
      }
      if (tag === "span" && argument !== "tg-spoiler") {
        fail('Tag "span" must have class "tg-spoiler"', begin);
      }
      if (tag === "tg-emoji" && !/^\d+$/.test(argument)) {
        fail("Custom emoji entity must contain a valid emoji-id", begin);
      }
      stack.push({ tag, argument, offset: out.length });
      continue;
    }
    if (stack.length === 0) fail("Unexpected end tag", begin);
    i += 2;
    while (i < text.length && !isSpace(text[i]) && text[i] !== ">") i++;
    const name = text.slice(begin + 2, i).toLowerCase();
    while (isSpace(text[i])) i++;
    if (text[i] !== ">") fail("Unclosed end tag", begin);
    const open = stack.pop()!;
    if (name !== "" && name !== open.tag) {
      fail(
        `Unmatched end tag at byte offset ${
          utf8Offset(text, begin)
        }, expected "</${open.tag}>", found "</${name}>"`,
      );
    }
    const length = out.length - open.offset;
    const parent = stack.at(-1);
    if (open.tag === "code" && parent?.tag === "pre") {
      if (open.argument !== "") parent.language = open.argument;
      continue;
    }
    if (length === 0) continue;
    if (open.tag === "a") {
      const link = linkEntity(open.argument || out.slice(open.offset), open.offset, length);
      if (link) entities.push(link);
      continue;
    }
    const entity: MessageEntity = { type: TAGS[open.tag]!, offset: open.offset, length };
    if (open.tag === "pre" && open.language) entity.language = open.language;
    if (open.tag === "tg-emoji") entity.custom_emoji_id = open.argument;
    if (open.tag === "blockquote" && open.argument) entity.type = "expandable_blockquote";
    entities.push(entity);
  }
  const left = stack.at(-1);
  if (left) fail(`Can't find end tag corresponding to start tag "${left.tag}"`);
  return { text: out, entities: sortEntities(entities) };
}
