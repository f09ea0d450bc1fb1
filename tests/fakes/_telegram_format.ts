/**
 * How the Telegram simulator turns a text parameter into the text it stores
 * (sections 2 and 3 of `shared/protocols/telegram.md`): parse_mode
 * (MarkdownV2, HTML, the legacy Markdown; case-insensitive) or an entities
 * array, then TDLib's trim and the length checks, with the Bot API's
 * descriptions.
 *
 * @module
 */

import {
  EntityParseError,
  type FormattedText,
  type MessageEntity,
  trimFormatted,
} from "./_telegram_entities.ts";
import { parseHtml } from "./_telegram_html.ts";
import { badRequest } from "./_telegram_http.ts";
import { parseMarkdown } from "./_telegram_markdown.ts";
import { parseMarkdownV2 } from "./_telegram_markdown_v2.ts";

/**
 * Parses `text` as the Bot API would for `parseMode` (undefined or "" for
 * plain text, where `entities` may be given); throws the 400 "Bad Request:
 * can't parse entities: …" or "Bad Request: unsupported parse_mode".
 *
 * @example
 * ```ts
 * parseText("*hi*", "MarkdownV2"); // { text: "hi", entities: [{ type: "bold", offset: 0, length: 2 }] }
 * ```
 */
export function parseText(text: string, parseMode?: unknown, entities?: unknown): FormattedText {
  if (parseMode === undefined || parseMode === "") {
    return { text, entities: entities === undefined ? [] : entityList(entities, text) };
  }
  const parse = {
    markdownv2: parseMarkdownV2,
    html: parseHtml,
    markdown: parseMarkdown,
  }[String(parseMode).toLowerCase()];
  if (!parse) throw badRequest("unsupported parse_mode");
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof EntityParseError) {
      throw badRequest(`can't parse entities: ${error.message}`);
    }
    throw error;
  }
}

/**
 * The text a message or draft stores: parsed, trimmed and checked
 * ("message text is empty", "text must be non-empty", "message is too
 * long"); `allowEmpty` for drafts, `limit` 4096 for texts, 1024 for captions.
 */
export function messageText(
  raw: unknown,
  parseMode: unknown,
  entities: unknown,
  options: { allowEmpty?: boolean; limit?: number; caption?: boolean } = {},
): FormattedText {
  const text = raw === undefined || raw === null ? "" : String(raw);
  if (text === "" && options.allowEmpty) return { text, entities: [] };
  if (text === "") throw badRequest("message text is empty");
  if (new TextEncoder().encode(text).length > 32_768) throw badRequest("Text is too long");
  const parsed = parseText(text, parseMode, entities);
  if (parsed.text === "" && !options.allowEmpty) throw badRequest("message text is empty");
  const trimmed = trimFormatted(parsed);
  if (trimmed.text === "" && !options.allowEmpty) throw badRequest("text must be non-empty");
  if (trimmed.text.length > (options.limit ?? 4096)) {
    throw badRequest(options.caption ? "message caption is too long" : "message is too long");
  }
  return trimmed;
}

/** An entities parameter (a JSON array or its string), checked against the text. */
function entityList(value: unknown, text: string): MessageEntity[] {
  let list = value;
  if (typeof value === "string") {
    try {
      list = JSON.parse(value);
    } catch {
      throw badRequest("can't parse entities JSON object");
    }
  }
  if (!Array.isArray(list)) throw badRequest("can't parse entities JSON object");
  return list.map((entity) => {
    const e = entity as MessageEntity;
    if (typeof e?.type !== "string") {
      throw badRequest('can\'t parse MessageEntity: Field "type" must be of type String');
    }
    if (!Number.isInteger(e.offset) || !Number.isInteger(e.length)) {
      throw badRequest('can\'t parse MessageEntity: Field "offset" must be of type Number');
    }
    if (e.offset < 0 || e.length < 0 || e.offset + e.length > text.length) {
      throw badRequest("can't parse entities: Invalid entity bounds");
    }
    return e;
  });
}
