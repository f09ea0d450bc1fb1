/**
 * The MarkdownV2 parser of the Bot API, written from section 2 of
 * `shared/protocols/telegram.md` after the algorithm of TDLib's
 * `parse_markdown_v2`: `\` escapes any character with code 1-126; outside
 * code the 18 characters `` _*[]()~`>#+-=|{}.! `` must be escaped; inside
 * code and pre only `` ` `` (and `\`); inside a link's `(…)` only `)` and
 * `\`. `__` is read as underline before italic. Errors carry TDLib's
 * wording, with byte offsets in UTF-8.
 *
 * Assumptions where the document is silent: a block quote (lines starting
 * `>`, or `**>` … `||` for an expandable one) ends before the newline that
 * ends its last line; empty entities are left out; a link whose target is
 * not a URL is left out (its text stays).
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

const RESERVED = "_*[]()~`>#+-=|{}.!";

type Kind =
  | "Bold"
  | "Italic"
  | "Underline"
  | "Strikethrough"
  | "Spoiler"
  | "Code"
  | "Pre"
  | "PreCode"
  | "TextUrl"
  | "CustomEmoji"
  | "BlockQuote"
  | "ExpandableBlockQuote";

const TYPES: Record<Kind, string> = {
  Bold: "bold",
  Italic: "italic",
  Underline: "underline",
  Strikethrough: "strikethrough",
  Spoiler: "spoiler",
  Code: "code",
  Pre: "pre",
  PreCode: "pre",
  TextUrl: "text_link",
  CustomEmoji: "custom_emoji",
  BlockQuote: "blockquote",
  ExpandableBlockQuote: "expandable_blockquote",
};

interface Open {
  kind: Kind;
  argument: string;
  /** UTF-16 offset in the output. */
  offset: number;
  /** UTF-16 index in the source, turned into bytes only for an error. */
  source: number;
}

const isQuote = (kind: Kind | undefined) =>
  kind === "BlockQuote" || kind === "ExpandableBlockQuote";
const isCode = (kind: Kind | undefined) => kind === "Code" || kind === "Pre" || kind === "PreCode";

/**
 * Parses a MarkdownV2 text into plain text and entities; throws an
 * {@linkcode EntityParseError} with TDLib's wording when it does not parse.
 *
 * @example
 * ```ts
 * parseMarkdownV2("*bold* and \\.");
 * // { text: "bold and .", entities: [{ type: "bold", offset: 0, length: 4 }] }
 * ```
 */
export function parseMarkdownV2(text: string): FormattedText {
  let out = "";
  const entities: MessageEntity[] = [];
  const stack: Open[] = [];
  const at = (k: number) => text[k] ?? "";
  const reserved = (c: string) =>
    new EntityParseError(
      `Character '${c}' is reserved and must be escaped with the preceding '\\'`,
    );
  const close = (open: Open, argument = open.argument) => {
    if (out.length === open.offset) return;
    const length = out.length - open.offset;
    if (open.kind === "TextUrl") {
      const link = linkEntity(argument, open.offset, length);
      if (link) entities.push(link);
      return;
    }
    const entity: MessageEntity = { type: TYPES[open.kind], offset: open.offset, length };
    if (open.kind === "PreCode") entity.language = argument;
    if (open.kind === "CustomEmoji") entity.custom_emoji_id = argument;
    entities.push(entity);
  };
  const closeQuote = () => {
    const top = stack.at(-1)!;
    const end = out.endsWith("\n") ? out.length - 1 : out.length;
    if (end > top.offset) {
      entities.push({ type: TYPES[top.kind], offset: top.offset, length: end - top.offset });
    }
    stack.pop();
  };

  for (let i = 0; i < text.length; i++) {
    const top = stack.at(-1)?.kind;
    if ((i === 0 || text[i - 1] === "\n") && !isCode(top)) {
      const expandable = text.startsWith("**>", i);
      if (text[i] === ">" || expandable) {
        if (!stack.some((o) => isQuote(o.kind))) {
          const kind = expandable ? "ExpandableBlockQuote" : "BlockQuote";
          stack.push({ kind, argument: "", offset: out.length, source: i });
        }
        if (expandable) i += 2;
        continue;
      }
      if (isQuote(top)) closeQuote();
    }
    const c = text[i]!;
    const next = at(i + 1);
    if (c === "\\" && next !== "" && next.charCodeAt(0) <= 126) {
      out += next;
      i++;
      continue;
    }
    const current = stack.at(-1);
    const kind = current?.kind;
    if (!(isCode(kind) ? "`" : RESERVED).includes(c)) {
      out += c;
      continue;
    }
    if (c === "|" && next === "|" && kind === "ExpandableBlockQuote") {
      const lineEnd = at(i + 2);
      if (lineEnd === "" || lineEnd === "\n") {
        i++;
        continue;
      }
    }
    let ends = false;
    switch (kind) {
      case "Bold":
        ends = c === "*";
        break;
      case "Italic":
        ends = c === "_" && next !== "_";
        break;
      case "Code":
        ends = c === "`";
        break;
      case "Pre":
      case "PreCode":
        ends = text.startsWith("```", i);
        break;
      case "TextUrl":
      case "CustomEmoji":
        ends = c === "]";
        break;
      case "Underline":
        ends = c === "_" && next === "_";
        break;
      case "Strikethrough":
        ends = c === "~";
        break;
      case "Spoiler":
        ends = c === "|" && next === "|";
        break;
    }
    if (!ends) {
      const source = i;
      let type: Kind;
      let argument = "";
      switch (c) {
        case "_":
          type = next === "_" ? "Underline" : "Italic";
          if (type === "Underline") i++;
          break;
        case "*":
          type = "Bold";
          break;
        case "~":
          type = "Strikethrough";
          break;
        case "|":
          if (next !== "|") throw reserved(c);
          i++;
          type = "Spoiler";
          break;
        case "[":
          type = "TextUrl";
          break;
        case "`":
          if (text.startsWith("```", i)) {
            i += 3;
            type = "Pre";
            let end = i;
            while (end < text.length && !/\s/.test(text[end]!) && text[end] !== "`") end++;
            if (end !== i && end < text.length && text[end] !== "`") {
              type = "PreCode";
              argument = text.slice(i, end);
              i = end;
            }
            if (text[i] === "\n" || text[i] === "\r") {
              const pair = (at(i + 1) === "\n" || at(i + 1) === "\r") && text[i] !== at(i + 1);
              i += pair ? 2 : 1;
            }
            i--;
          } else {
            type = "Code";
          }
          break;
        case "!":
          if (next !== "[") throw reserved(c);
          i++;
          type = "CustomEmoji";
          break;
        default:
          throw reserved(c);
      }
      stack.push({ kind: type, argument, offset: out.length, source });
      continue;
    }
    const open = stack.pop()!;
    let argument = open.argument;
    if (open.kind === "Underline" || open.kind === "Spoiler") i++;
    if (open.kind === "Pre" || open.kind === "PreCode") i += 2;
    if (open.kind === "TextUrl" || open.kind === "CustomEmoji") {
      if (next !== "(") {
        if (open.kind === "CustomEmoji") {
          throw new EntityParseError("Custom emoji entity must contain a tg://emoji URL");
        }
        argument = out.slice(open.offset);
      } else {
        i += 2;
        const urlStart = i;
        argument = "";
        while (i < text.length && text[i] !== ")") {
          if (text[i] === "\\" && at(i + 1) !== "" && at(i + 1).charCodeAt(0) <= 126) {
            argument += text[i + 1];
            i += 2;
            continue;
          }
          argument += text[i++];
        }
        if (text[i] !== ")") {
          throw new EntityParseError(
            `Can't find end of a URL at byte offset ${utf8Offset(text, urlStart)}`,
          );
        }
      }
      if (open.kind === "CustomEmoji") {
        const id = /^tg:\/\/emoji\?id=(\d+)$/.exec(argument);
        if (!id) throw new EntityParseError("Custom emoji entity must contain a tg://emoji URL");
        argument = id[1]!;
      }
    }
    close(open, argument);
  }
  if (isQuote(stack.at(-1)?.kind)) closeQuote();
  const left = stack.at(-1);
  if (left) {
    throw new EntityParseError(
      `Can't find end of ${left.kind} entity at byte offset ${utf8Offset(text, left.source)}`,
    );
  }
  return { text: out, entities: sortEntities(entities) };
}
