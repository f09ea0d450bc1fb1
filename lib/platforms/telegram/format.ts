/**
 * How a reply becomes Telegram messages: {@linkcode toTelegramHtml} turns the
 * agent's markdown into HTML for `parse_mode: "HTML"`,
 * {@linkcode splitTelegramHtml} cuts it into messages that each parse on
 * their own, and {@linkcode plainFallback} / {@linkcode htmlToPlain} give the
 * text to send without `parse_mode` when Telegram still refuses the HTML
 * (then cut with {@linkcode splitPlain}).
 *
 * Lengths are what Telegram counts (section 2 of the protocol notes): UTF-16
 * units of the text after entity parsing, so tags count nothing and `&amp;`
 * counts one.
 *
 * @module
 */

import type { OutboundMessage } from "../event.ts";
import { escapeHtml, renderMarkdown } from "./_markdown.ts";
import { htmlAtoms, splitAtoms, textAtoms } from "./_split.ts";

/** The longest text of one message (sendMessage, editMessageText), in UTF-16 units. */
export const TELEGRAM_MAX_MESSAGE_LENGTH = 4096;

/** One Telegram message of a reply, and what to send instead if Telegram refuses its HTML. */
export interface TelegramText {
  /** The `text` of sendMessage / editMessageText. */
  readonly text: string;
  /** `"HTML"` for a markdown reply; unset for plain text (send no parse_mode). */
  readonly parseMode?: "HTML";
  /**
   * The same message as plain text, in as many messages as it takes (a link
   * written out as `label (url)` can make it longer); `[text]` for plain text.
   */
  readonly fallback: readonly string[];
}

/**
 * A reply as the Telegram messages to send, in order: markdown through
 * {@linkcode toTelegramHtml} and {@linkcode splitTelegramHtml}, each with its
 * plain fallback ({@linkcode htmlToPlain}, {@linkcode splitPlain}); plain
 * text (the default format) through {@linkcode splitPlain} alone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(telegramMessages({ text: "**Hi** [me](https://example.com)", format: "markdown" }), [
 *   {
 *     text: '<b>Hi</b> <a href="https://example.com">me</a>',
 *     parseMode: "HTML",
 *     fallback: ["Hi me (https://example.com)"],
 *   },
 * ]);
 * assert.deepEqual(telegramMessages({ text: "1 < 2" }), [{ text: "1 < 2", fallback: ["1 < 2"] }]);
 * ```
 */
export function telegramMessages(
  message: Pick<OutboundMessage, "text" | "format">,
  limit: number = TELEGRAM_MAX_MESSAGE_LENGTH,
): TelegramText[] {
  if (message.format !== "markdown") {
    return splitPlain(message.text, limit).map((text) => ({ text, fallback: [text] }));
  }
  return splitTelegramHtml(toTelegramHtml(message.text), limit).map((text) => ({
    text,
    parseMode: "HTML",
    fallback: splitPlain(htmlToPlain(text), limit),
  }));
}

/**
 * The agent's markdown as Telegram HTML. Bold, italic, strikethrough, inline
 * code and links become `<b>`, `<i>`, `<s>`, `<code>` and `<a href>`; a code
 * block becomes `<pre>` (`<pre><code class="language-x">` with a language);
 * a heading is a bold line; list items are `• ` or `1. ` lines (nested ones
 * indented); a quote is one `<blockquote>` (nested quotes join it); a table
 * is a `• header: cell · header: cell` line per row; a rule is `———`. Blocks
 * are a blank line apart; no `<p>` or `<br>`.
 *
 * Everything else is text with `<`, `>` and `&` escaped: raw HTML, unclosed
 * `**` or backticks, `a_b_c`, `2*3*4` (a single `*` touching a letter or
 * digit outside is never italics). Links Telegram cannot open (relative,
 * `mailto:`) show as `label (url)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   toTelegramHtml("## Done\n**ok** & see [docs](https://example.com) for `a<b`"),
 *   '<b>Done</b>\n\n<b>ok</b> &amp; see <a href="https://example.com">docs</a> for <code>a&lt;b</code>',
 * );
 * ```
 */
export function toTelegramHtml(markdown: string): string {
  return renderMarkdown(markdown, "html");
}

/**
 * Telegram HTML cut into messages of at most `limit` visible UTF-16 units
 * (see {@linkcode visibleLength}). It cuts at the last blank line, else line
 * end, else space (or CJK stop such as `。`) in the second half of a message,
 * else between characters; never inside a tag, an entity, a surrogate pair
 * or before a joiner or combining mark. Formatting open at a cut (bold, a
 * link, a code block) is closed at the end of one message and opened again,
 * with the same attributes, at the start of the next. The whitespace at a cut
 * is dropped, and so are blank messages: `""` gives `[]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(
 *   splitTelegramHtml("<b>one two three</b>", 10),
 *   ["<b>one two</b>", "<b>three</b>"],
 * );
 * ```
 */
export function splitTelegramHtml(
  html: string,
  limit: number = TELEGRAM_MAX_MESSAGE_LENGTH,
): string[] {
  return splitAtoms(htmlAtoms(html), limit);
}

/**
 * Plain text (sent without `parse_mode`) cut like {@linkcode splitTelegramHtml}:
 * messages of at most `limit` UTF-16 units, at blank lines, line ends or
 * spaces when one is in the second half, never inside a surrogate pair.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(splitPlain("first part\n\nsecond part", 15), ["first part", "second part"]);
 * ```
 */
export function splitPlain(text: string, limit: number = TELEGRAM_MAX_MESSAGE_LENGTH): string[] {
  return splitAtoms(textAtoms(text), limit);
}

/**
 * How long Telegram finds `html`: UTF-16 units of the text after entity
 * parsing (tags count nothing, `&amp;` counts one, `&#128512;` two).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(visibleLength("<b>a &amp; b</b> 😀"), 8);
 * ```
 */
export function visibleLength(html: string): number {
  let length = 0;
  for (const atom of htmlAtoms(html)) length += atom.text.length;
  return length;
}

/**
 * The agent's markdown as readable plain text, for a send without
 * `parse_mode` after Telegram refused the HTML: the layout of
 * {@linkcode toTelegramHtml} without the markup. Emphasis markers go, code
 * is kept verbatim, links become `label (url)`, quotes `> ` lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   plainFallback("**Note:** see [the docs](https://example.com/docs) and run `make`"),
 *   "Note: see the docs (https://example.com/docs) and run make",
 * );
 * ```
 */
export function plainFallback(markdown: string): string {
  return renderMarkdown(markdown, "plain");
}

/**
 * Telegram HTML (such as one message of {@linkcode splitTelegramHtml}) as
 * plain text: tags dropped, entities decoded, a link `label (url)` unless
 * its label is its url. The result may be longer than the HTML's visible
 * text, so cut it with {@linkcode splitPlain}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   htmlToPlain('<b>a &amp; b</b>: <a href="https://example.com">site</a>'),
 *   "a & b: site (https://example.com)",
 * );
 * ```
 */
export function htmlToPlain(html: string): string {
  let out = "";
  const links: { href: string; start: number }[] = [];
  for (const atom of htmlAtoms(html)) {
    if (!atom.tag) out += atom.text;
    else if (atom.tag.name === "a" && !atom.tag.close) {
      links.push({
        href: decode(/\shref\s*=\s*"([^"]*)"/i.exec(atom.raw)?.[1] ?? ""),
        start: out.length,
      });
    } else if (atom.tag.name === "a") {
      const link = links.pop();
      const label = link ? out.slice(link.start) : "";
      if (link && link.href !== "" && label !== link.href) out += ` (${link.href})`;
    }
  }
  return out;
}

function decode(html: string): string {
  return htmlAtoms(html).map((atom) => atom.text).join("");
}

/**
 * Plain text made safe inside Telegram HTML: `&`, `<` and `>` become the
 * named entities Telegram knows; nothing else changes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(escapeTelegramHtml("a<b && c>d"), "a&lt;b &amp;&amp; c&gt;d");
 * ```
 */
export function escapeTelegramHtml(text: string): string {
  return escapeHtml(text);
}
