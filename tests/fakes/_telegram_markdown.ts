/**
 * The legacy "Markdown" parse mode of the Bot API (section 2 of
 * `shared/protocols/telegram.md` names it): `*bold*`, `_italic_`,
 * `` `code` ``, ```` ```pre``` ```` and `[text](url)`, with `\` escaping
 * only `_ * ` [` outside code. No nesting.
 *
 * Assumption: the error wording is TDLib's "Can't find end of the entity
 * starting at byte offset N".
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

const TYPES: Record<string, string> = { "*": "bold", _: "italic", "`": "code" };

/**
 * Parses a legacy Markdown text; throws an {@linkcode EntityParseError} for
 * an entity without its end.
 *
 * @example
 * ```ts
 * parseMarkdown("*bold* _it_"); // text "bold it", a bold and an italic entity
 * ```
 */
export function parseMarkdown(text: string): FormattedText {
  let out = "";
  const entities: MessageEntity[] = [];
  const unclosed = (at: number) =>
    new EntityParseError(
      `Can't find end of the entity starting at byte offset ${utf8Offset(text, at)}`,
    );
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\" && "_*`[".includes(text[i + 1] ?? "")) {
      out += text[++i];
      continue;
    }
    if (!"_*`[".includes(c)) {
      out += c;
      continue;
    }
    const start = i;
    const offset = out.length;
    if (text.startsWith("```", i)) {
      const end = text.indexOf("```", i + 3);
      if (end < 0) throw unclosed(start);
      let body = text.slice(i + 3, end);
      const language = /^([^\s`]+)\n/.exec(body);
      if (language) body = body.slice(language[0].length);
      else if (body.startsWith("\n")) body = body.slice(1);
      out += body;
      const entity: MessageEntity = { type: "pre", offset, length: body.length };
      if (language) entity.language = language[1];
      if (body.length > 0) entities.push(entity);
      i = end + 2;
      continue;
    }
    if (c === "[") {
      const close = text.indexOf("]", i + 1);
      if (close < 0) throw unclosed(start);
      const label = text.slice(i + 1, close);
      out += label;
      i = close;
      if (text[close + 1] === "(") {
        const end = text.indexOf(")", close + 2);
        if (end < 0) throw unclosed(start);
        const link = linkEntity(text.slice(close + 2, end), offset, label.length);
        if (link && label.length > 0) entities.push(link);
        i = end;
      }
      continue;
    }
    const end = text.indexOf(c, i + 1);
    if (end < 0) throw unclosed(start);
    const body = text.slice(i + 1, end);
    out += body;
    if (body.length > 0) entities.push({ type: TYPES[c]!, offset, length: body.length });
    i = end;
  }
  return { text: out, entities: sortEntities(entities) };
}
