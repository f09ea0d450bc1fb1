/**
 * A strict, independent reading of Telegram's HTML rules (parse_mode "HTML",
 * section 2 of the protocol notes), for checking every message the formatter
 * makes. Stricter than Telegram where it is unsure: a bare `>` is refused,
 * code may not sit inside a link, a quote not inside a quote, a code block
 * only at the top or in a quote.
 *
 * @module
 */

import assert from "node:assert/strict";

const SIMPLE = new Set([
  "b",
  "strong",
  "i",
  "em",
  "u",
  "ins",
  "s",
  "strike",
  "del",
  "tg-spoiler",
]);
const ENTITY = /^&(?:lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});/;
const TAG = /^<(\/?)([a-z][a-z0-9-]*)((?:\s+[a-z-]+(?:="[^"<>]*")?)*)\s*>/;
const ATTRIBUTE = /\s+([a-z-]+)(?:="([^"<>]*)")?/g;
const URL = /^(?:https?|tg|ton):\/\/\S+$/i;

interface Open {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** Visible text or tags seen inside it so far. */
  content: boolean;
}

/** The visible text of Telegram HTML (tags dropped, entities decoded). */
export function visibleText(html: string): string {
  return html.replace(/<[^<>]*>/g, "").replace(ENTITY_ALL, (entity) => decodeEntity(entity));
}

const ENTITY_ALL = /&(?:lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});/g;

function decodeEntity(entity: string): string {
  const named: Record<string, string> = { "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"' };
  if (named[entity]) return named[entity];
  const hex = entity[2] === "x" || entity[2] === "X";
  return String.fromCodePoint(parseInt(entity.slice(hex ? 3 : 2, -1), hex ? 16 : 10));
}

/** Every way `html` breaks Telegram's rules (or one message's length limit); `[]` if none. */
export function telegramHtmlErrors(html: string, limit = 4096): string[] {
  const errors: string[] = [];
  const stack: Open[] = [];
  let i = 0;
  const inside = (name: string) => stack.some((open) => open.name === name);
  while (i < html.length) {
    const char = html[i]!;
    const at = `at ${i}`;
    if (char === "<") {
      const m = TAG.exec(html.slice(i));
      if (!m) {
        errors.push(`bare "<" ${at}`);
        i++;
        continue;
      }
      const [whole, slash, name = "", rawAttributes = ""] = m;
      i += whole.length;
      const top = stack.at(-1);
      if (slash) {
        if (rawAttributes.trim() !== "") errors.push(`closing tag with attributes ${at}`);
        if (!top) errors.push(`</${name}> closes nothing ${at}`);
        else if (top.name !== name) errors.push(`</${name}> closes <${top.name}> ${at}`);
        else {
          if (!top.content) errors.push(`empty <${name}> ${at}`);
          stack.pop();
        }
        continue;
      }
      const attributes: Record<string, string> = {};
      for (const [, key, value] of rawAttributes.matchAll(ATTRIBUTE)) {
        if (key! in attributes) errors.push(`repeated attribute ${key} ${at}`);
        attributes[key!] = value ?? "";
      }
      const keys = Object.keys(attributes);
      const only = (...allowed: string[]) => {
        for (const key of keys) {
          if (!allowed.includes(key)) errors.push(`<${name}> has attribute ${key} ${at}`);
        }
      };
      if (top) top.content = true;
      if (top?.name === "code") errors.push(`<${name}> inside <code> ${at}`);
      if (top?.name === "pre" && name !== "code") errors.push(`<${name}> inside <pre> ${at}`);
      if (SIMPLE.has(name)) only();
      else if (name === "span") {
        only("class");
        if (attributes.class !== "tg-spoiler") errors.push(`<span> without class tg-spoiler ${at}`);
      } else if (name === "a") {
        only("href");
        if (inside("a")) errors.push(`<a> inside <a> ${at}`);
        const href = attributes.href;
        if (href === undefined) errors.push(`<a> without href ${at}`);
        else if (!URL.test(visibleText(href))) errors.push(`<a> with href "${href}" ${at}`);
        else if (/&(?!(?:lt|gt|amp|quot);)/.test(href)) errors.push(`bare "&" in href ${at}`);
      } else if (name === "code") {
        only("class");
        if (inside("a")) errors.push(`<code> inside <a> ${at}`);
        if (keys.length > 0) {
          if (top?.name !== "pre") errors.push(`<code class> outside <pre> ${at}`);
          if (!/^language-[A-Za-z0-9_+#.-]+$/.test(attributes.class ?? "")) {
            errors.push(`<code> with class "${attributes.class}" ${at}`);
          }
        }
        if (
          top?.name === "pre" &&
          html.slice(html.lastIndexOf("<pre", i), i - whole.length) !== "<pre>"
        ) {
          errors.push(`<code> not first in <pre> ${at}`);
        }
      } else if (name === "pre") {
        only();
        if (stack.some((open) => open.name !== "blockquote")) {
          errors.push(`<pre> inside <${top?.name}> ${at}`);
        }
      } else if (name === "blockquote") {
        only("expandable");
        if (inside("blockquote")) errors.push(`<blockquote> inside <blockquote> ${at}`);
      } else if (name === "tg-emoji") {
        only("emoji-id");
        if (!/^\d+$/.test(attributes["emoji-id"] ?? "")) errors.push(`<tg-emoji> without id ${at}`);
      } else errors.push(`unsupported tag <${name}> ${at}`);
      stack.push({ name, attributes, content: false });
      continue;
    }
    if (char === "&") {
      const m = ENTITY.exec(html.slice(i));
      if (!m) errors.push(`bare "&" ${at}`);
      i += m ? m[0].length : 1;
    } else if (char === ">") {
      errors.push(`bare ">" ${at}`);
      i++;
    } else {
      const code = html.charCodeAt(i);
      if (code >= 0xd800 && code <= 0xdbff) {
        const next = html.charCodeAt(i + 1);
        if (!(next >= 0xdc00 && next <= 0xdfff)) errors.push(`lone high surrogate ${at}`);
        else i++;
      } else if (code >= 0xdc00 && code <= 0xdfff) errors.push(`lone low surrogate ${at}`);
      i++;
    }
    const top = stack.at(-1);
    if (top) {
      top.content = true;
      if (top.name === "pre" && html.slice(html.lastIndexOf("<pre", i), i).includes("</code>")) {
        errors.push(`text after </code> in <pre> ${at}`);
      }
    }
  }
  for (const open of stack.toReversed()) errors.push(`<${open.name}> never closed`);
  const text = visibleText(html);
  if (text.trim() === "") errors.push("no visible text");
  if (text.length > limit) errors.push(`${text.length} visible UTF-16 units > ${limit}`);
  return errors;
}

/** Fails unless `html` is one valid Telegram HTML message of at most `limit` units. */
export function assertTelegramHtml(html: string, limit = 4096): void {
  const errors = telegramHtmlErrors(html, limit);
  assert.deepEqual(errors, [], `invalid Telegram HTML ${JSON.stringify(html.slice(0, 300))}`);
}
