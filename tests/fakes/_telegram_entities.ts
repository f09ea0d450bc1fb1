/**
 * Formatted text as the Bot API returns it: plain text plus entities whose
 * offset and length count UTF-16 code units (section 2 of
 * `shared/protocols/telegram.md`), and the helpers the two parsers share.
 *
 * @module
 */

/** One MessageEntity of the Bot API (offset and length in UTF-16 units). */
export interface MessageEntity {
  /** "bold", "italic", "code", "pre", "text_link", "bot_command", "mention", ... */
  type: string;
  /** Start, in UTF-16 code units. */
  offset: number;
  /** Length, in UTF-16 code units. */
  length: number;
  /** The target of a "text_link". */
  url?: string;
  /** The language of a "pre". */
  language?: string;
  /** The id of a "custom_emoji". */
  custom_emoji_id?: string;
  /** The user of a "text_mention" (only the id is known to the parsers). */
  user?: { id: number; is_bot?: boolean; first_name?: string };
}

/** Plain text and its entities. */
export interface FormattedText {
  /** The text with the markup removed. */
  text: string;
  /** Entities sorted by offset, longer ones first at the same offset. */
  entities: MessageEntity[];
}

/**
 * A text that does not parse. `message` is what follows "can't parse
 * entities: " in the Bot API description, e.g. `Can't find end of Italic
 * entity at byte offset 9`.
 */
export class EntityParseError extends Error {
  /** Creates the error with the TDLib wording as its message. */
  constructor(message: string) {
    super(message);
    this.name = "EntityParseError";
  }
}

/**
 * The UTF-8 byte offset of the UTF-16 index `index` of `text` (TDLib reports
 * parse errors in bytes).
 *
 * @example
 * ```ts
 * utf8Offset("é_", 1); // 2
 * ```
 */
export function utf8Offset(text: string, index: number): number {
  return new TextEncoder().encode(text.slice(0, index)).length;
}

/**
 * Sorts entities as the Bot API lists them: by offset, then longer first.
 *
 * @example
 * ```ts
 * sortEntities([{ type: "bold", offset: 2, length: 1 }, { type: "italic", offset: 0, length: 3 }]);
 * ```
 */
export function sortEntities(entities: MessageEntity[]): MessageEntity[] {
  return entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
}

/**
 * What a link target becomes: a text_mention for `tg://user?id=N`, a
 * text_link for a URL TDLib would accept (a scheme-less host gets
 * "http://"), undefined for one it drops (the entity is left out).
 *
 * @example
 * ```ts
 * linkEntity("example.com", 0, 4); // { type: "text_link", url: "http://example.com/", ... }
 * ```
 */
export function linkEntity(url: string, offset: number, length: number): MessageEntity | undefined {
  const user = /^tg:\/\/user\?id=(\d{1,15})$/.exec(url);
  if (user) return { type: "text_mention", offset, length, user: { id: Number(user[1]) } };
  const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(url);
  const candidate = hasScheme ? url : `http://${url}`;
  try {
    const parsed = new URL(candidate);
    if (!["http:", "https:", "tg:", "ton:", "ftp:"].includes(parsed.protocol)) return undefined;
    if (parsed.protocol.startsWith("http") && !parsed.hostname.includes(".")) return undefined;
    return { type: "text_link", offset, length, url: hasScheme ? url : parsed.href };
  } catch {
    return undefined;
  }
}

/**
 * Strips leading and trailing whitespace as TDLib does before sending, and
 * clips the entities to what is left (dropping the ones left empty).
 *
 * @example
 * ```ts
 * trimFormatted({ text: "  hi \n", entities: [] }); // { text: "hi", entities: [] }
 * ```
 */
export function trimFormatted(formatted: FormattedText): FormattedText {
  const start = formatted.text.length - formatted.text.trimStart().length;
  const end = formatted.text.trimEnd().length;
  if (start >= end) return { text: "", entities: [] };
  const entities = formatted.entities.flatMap((e) => {
    const from = Math.max(e.offset, start);
    const to = Math.min(e.offset + e.length, end);
    return to > from ? [{ ...e, offset: from - start, length: to - from }] : [];
  });
  return { text: formatted.text.slice(start, end), entities };
}

/**
 * The entities Telegram's clients find in a user's text: bot commands
 * (`/cmd` or `/cmd@bot`, at a word start), @mentions (5-32 characters),
 * #hashtags and http(s) URLs, with UTF-16 offsets.
 *
 * @example
 * ```ts
 * findEntities("/start@hermes_bot now"); // [{ type: "bot_command", offset: 0, length: 17 }]
 * ```
 */
export function findEntities(text: string): MessageEntity[] {
  const found: MessageEntity[] = [];
  const patterns: [string, RegExp][] = [
    ["bot_command", /(?<![\w/@])\/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])/g],
    ["mention", /(?<![\w@])@[A-Za-z0-9_]{5,32}(?![\w@])/g],
    ["hashtag", /(?<![\w#])#[\p{L}\p{N}_]*\p{L}[\p{L}\p{N}_]*/gu],
    ["url", /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]]/g],
  ];
  for (const [type, pattern] of patterns) {
    for (const match of text.matchAll(pattern)) {
      const offset = match.index;
      if (found.some((e) => offset < e.offset + e.length && e.offset < offset + match[0].length)) {
        continue;
      }
      found.push({ type, offset, length: match[0].length });
    }
  }
  return sortEntities(found);
}
