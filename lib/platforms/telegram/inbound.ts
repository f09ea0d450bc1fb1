/**
 * What a Telegram update says, as hermes reads it (shared/protocols/telegram.md
 * §4): the message it carries mapped to a `MessageEvent`, and whether a group
 * message addresses the bot (a `/cmd@bot` command, an @mention or a
 * text_mention of it, a reply to one of its messages), read from the entities,
 * never from the raw text.
 *
 * @module
 */

import type { ChatType, MessageEvent, SessionSource } from "../event.ts";

/** The bot as getMe describes it. */
export interface BotIdentity {
  readonly id: number;
  readonly username: string;
}

/** A Telegram entity (offsets and lengths in UTF-16 units). */
export interface TgEntity {
  readonly type: string;
  readonly offset: number;
  readonly length: number;
  readonly user?: { readonly id: number };
}

/** The fields of a Telegram Message hermes reads. */
export interface TgMessage {
  readonly message_id: number;
  readonly date: number;
  readonly chat: {
    readonly id: number;
    readonly type: "private" | "group" | "supergroup" | "channel";
    readonly is_forum?: boolean;
  };
  readonly from?: {
    readonly id: number;
    readonly is_bot?: boolean;
    readonly first_name?: string;
    readonly last_name?: string;
    readonly username?: string;
  };
  /** The chat a message is sent on behalf of (an anonymous admin's group, a channel). */
  readonly sender_chat?: { readonly id: number };
  readonly text?: string;
  readonly entities?: readonly TgEntity[];
  readonly caption?: string;
  readonly caption_entities?: readonly TgEntity[];
  readonly message_thread_id?: number;
  readonly is_topic_message?: boolean;
  readonly reply_to_message?: TgMessage;
  readonly edit_date?: number;
  readonly photo?: readonly { readonly file_id: string; readonly file_size?: number }[];
  readonly document?: {
    readonly file_id: string;
    readonly file_name?: string;
    readonly mime_type?: string;
    readonly file_size?: number;
  };
  readonly voice?: {
    readonly file_id: string;
    readonly mime_type?: string;
    readonly file_size?: number;
  };
  readonly migrate_to_chat_id?: number;
  /** In the new supergroup: the group it was. */
  readonly migrate_from_chat_id?: number;
  /** Shared by the items of one album. */
  readonly media_group_id?: string;
}

/** One update of getUpdates (or a webhook POST). */
export interface TgUpdate {
  readonly update_id: number;
  readonly message?: TgMessage;
  readonly edited_message?: TgMessage;
  /** The bot's own membership changed: a user blocked it ("kicked") or let it back ("member"). */
  readonly my_chat_member?: {
    readonly chat: { readonly id: number };
    readonly new_chat_member: { readonly status: string };
  };
}

/** A file a message brings, to fetch with getFile. */
export interface TgFile {
  readonly fileId: string;
  readonly kind: "image" | "file" | "voice";
  readonly name?: string;
  readonly size?: number;
}

/** What an update means for hermes. */
export type Reading =
  | { readonly kind: "event"; readonly event: MessageEvent; readonly files: readonly TgFile[] }
  | { readonly kind: "skip"; readonly why: string };

/**
 * Reads `update` for the bot `me`: the event to hand on (text with a
 * `/cmd@bot` reduced to `/cmd`, and the files to fetch), or why it is
 * skipped (no message, a service message, another bot's command, a group
 * message that does not address the bot while `requireMention`).
 *
 * @example
 * ```ts
 * const reading = readUpdate({
 *   update_id: 10,
 *   message: {
 *     message_id: 5,
 *     date: 1_780_000_000,
 *     chat: { id: 42, type: "private" },
 *     from: { id: 42, first_name: "Alice" },
 *     text: "hello",
 *   },
 * }, { id: 7, username: "hermes_bot" }, { requireMention: true });
 * // reading.kind === "event", reading.event.source.chatType === "dm"
 * ```
 */
export function readUpdate(
  update: TgUpdate,
  me: BotIdentity,
  options: {
    readonly requireMention: boolean;
    /** The chat id a chat's sessions go by (a migrated group's, for its supergroup). */
    readonly origin?: (chatId: string) => string;
  },
): Reading {
  const edited = update.edited_message !== undefined;
  const message = update.message ?? update.edited_message;
  if (!message) return { kind: "skip", why: "no message in the update" };
  const found = sourceOf(message);
  if (!found) return { kind: "skip", why: "a message without a sender" };
  const source = options.origin ? { ...found, chatId: options.origin(found.chatId) } : found;
  // An anonymous admin writes as the group's bot account, with the group as sender_chat.
  if (message.from?.is_bot && !message.sender_chat) return { kind: "skip", why: "a bot's message" };
  const raw = message.text ?? message.caption ?? "";
  const entities = message.text !== undefined
    ? message.entities ?? []
    : message.caption_entities ?? [];
  const command = commandOf(raw, entities);
  if (
    command && command.bot !== undefined && command.bot.toLowerCase() !== me.username.toLowerCase()
  ) {
    return { kind: "skip", why: `a command for @${command.bot}` };
  }
  const files = filesOf(message);
  if (raw.trim() === "" && files.length === 0) return { kind: "skip", why: "a service message" };
  if (
    source.chatType === "group" && options.requireMention &&
    !addressesBot(message, raw, entities, me)
  ) {
    return { kind: "skip", why: "a group message that does not address the bot" };
  }
  const text = command?.bot !== undefined
    ? raw.slice(0, command.end - command.bot.length - 1) + raw.slice(command.end)
    : raw;
  const id = `${message.chat.id}:${message.message_id}`;
  const event: MessageEvent = {
    messageId: edited ? `${id}:edit:${message.edit_date ?? message.date}` : id,
    source,
    text,
    receivedAt: new Date(message.date * 1000).toISOString(),
    kind: edited ? "edit" : "message",
    replyContext: { message_id: message.message_id },
    ...(senderName(message) ? { senderName: senderName(message) } : {}),
    ...(message.reply_to_message?.text !== undefined
      ? { replyToText: message.reply_to_message.text }
      : {}),
  };
  return { kind: "event", event, files };
}

/** The chat a message came from, as a session source (undefined without a sender). */
export function sourceOf(message: TgMessage): SessionSource | undefined {
  const type = message.chat.type;
  const chatType: ChatType = type === "private" ? "dm" : type === "channel" ? "channel" : "group";
  // An anonymous admin (or a channel) speaks as its chat: that chat is the sender.
  const userId = message.sender_chat?.id ?? message.from?.id ??
    (chatType === "channel" ? message.chat.id : undefined);
  if (userId === undefined) return undefined;
  // A thread id is a topic only in a forum; Telegram also fills it on plain reply chains.
  const topic = message.message_thread_id !== undefined &&
    (message.is_topic_message === true || message.chat.is_forum === true);
  return {
    platform: "telegram",
    chatType,
    chatId: String(message.chat.id),
    ...(topic ? { threadId: String(message.message_thread_id) } : {}),
    userId: String(userId),
  };
}

/** A leading bot_command entity: where it ends, and the bot it names (`/cmd@bot`). */
function commandOf(
  text: string,
  entities: readonly TgEntity[],
): { end: number; bot?: string } | undefined {
  const entity = entities.find((e) => e.type === "bot_command" && e.offset === 0);
  if (!entity) return undefined;
  const word = text.slice(0, entity.length);
  const at = word.indexOf("@");
  return at === -1 ? { end: entity.length } : { end: entity.length, bot: word.slice(at + 1) };
}

function addressesBot(
  message: TgMessage,
  text: string,
  entities: readonly TgEntity[],
  me: BotIdentity,
): boolean {
  const replyTo = message.reply_to_message;
  // Every message of a forum topic "replies" to the topic's root; only a real reply counts.
  const topicRoot = message.is_topic_message === true &&
    replyTo?.message_id === message.message_thread_id;
  if (replyTo?.from?.id === me.id && !topicRoot) return true;
  const handle = `@${me.username}`.toLowerCase();
  return entities.some((entity) => {
    const span = text.slice(entity.offset, entity.offset + entity.length).toLowerCase();
    if (entity.type === "mention") return span === handle;
    if (entity.type === "text_mention") return entity.user?.id === me.id;
    if (entity.type === "bot_command") return span.endsWith(handle) || !span.includes("@");
    return false;
  });
}

function filesOf(message: TgMessage): TgFile[] {
  const files: TgFile[] = [];
  const photo = message.photo?.at(-1); // sizes come smallest first
  if (photo) files.push({ fileId: photo.file_id, kind: "image", size: photo.file_size });
  if (message.document) {
    files.push({
      fileId: message.document.file_id,
      kind: "file",
      name: message.document.file_name,
      size: message.document.file_size,
    });
  }
  if (message.voice) {
    files.push({ fileId: message.voice.file_id, kind: "voice", size: message.voice.file_size });
  }
  return files;
}

function senderName(message: TgMessage): string | undefined {
  const from = message.from;
  if (!from) return undefined;
  const name = [from.first_name, from.last_name].filter(Boolean).join(" ");
  return name || from.username;
}

/** A text this long was probably split off a longer one by the user's client (at 4,096). */
const SPLIT_LENGTH = 4_000;

/**
 * Whether update `next` carries more of the message `previous` began: the
 * next item of the same album, or the next piece of a long text the
 * client split (same chat, same sender, sent within 2 s of the piece
 * before it, which is near 4,096 long).
 *
 * @example
 * ```ts
 * const chat = { id: 42, type: "private" as const };
 * const from = { id: 42 };
 * continuesMessage(
 *   { update_id: 1, message: { message_id: 1, date: 0, chat, from, text: "x".repeat(4096) } },
 *   { update_id: 2, message: { message_id: 2, date: 0, chat, from, text: "…and the rest" } },
 * ); // true
 * ```
 */
export function continuesMessage(previous: TgUpdate, next: TgUpdate): boolean {
  const a = previous.message;
  const b = next.message;
  if (!a || !b || a.chat.id !== b.chat.id || a.from?.id !== b.from?.id) return false;
  if (a.media_group_id !== undefined) return b.media_group_id === a.media_group_id;
  // A client sends the pieces of one text at once; a later message is a message of its own.
  return a.text !== undefined && b.text !== undefined && a.text.length >= SPLIT_LENGTH &&
    b.media_group_id === undefined && b.date - a.date <= 2;
}

/**
 * Whether the last of `updates` may be followed by more of its message: an
 * album item, or a text near the length at which clients split.
 *
 * @example
 * ```ts
 * mayContinue([]); // false
 * ```
 */
export function mayContinue(updates: readonly TgUpdate[]): boolean {
  const last = updates.at(-1)?.message;
  return last !== undefined &&
    (last.media_group_id !== undefined || (last.text?.length ?? 0) >= SPLIT_LENGTH);
}

/**
 * `updates` in runs that make one message each (an album, a split text),
 * in order.
 *
 * @example
 * ```ts
 * messageRuns([]); // []
 * ```
 */
export function messageRuns(updates: readonly TgUpdate[]): TgUpdate[][] {
  const runs: TgUpdate[][] = [];
  for (const update of updates) {
    const run = runs.at(-1);
    if (run && continuesMessage(run.at(-1)!, update)) run.push(update);
    else runs.push([update]);
  }
  return runs;
}
