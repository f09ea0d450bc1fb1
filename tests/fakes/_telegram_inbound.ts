/**
 * What users do, for the control API of the Telegram simulator: messages
 * (text, commands, mentions, replies, photos, documents, voice, albums,
 * forum topics), edits, callback presses, blocking the bot and a group's
 * migration to a supergroup, each queued as the Update the Bot API would
 * send (section 4 of `shared/protocols/telegram.md`).
 *
 * Assumptions where the document is silent: entities of a user's text are
 * found as Telegram's clients do (bot_command, mention, hashtag, url); a
 * message in a forum topic that replies to nothing carries the topic's
 * forum_topic_created message as reply_to_message (as Telegram does); a
 * reply in a non-forum supergroup gets the chain's root as
 * message_thread_id without is_topic_message; a photo is two sizes whose
 * small one serves the first quarter of the bytes.
 *
 * Privacy mode (section 4): in a group or supergroup where the bot is not an
 * admin and getMe's can_read_all_group_messages is false, a user's message
 * becomes an update only if it has a bot_command addressed to this bot
 * (`/cmd@bot`), a bare command while this bot was the last bot to post, or
 * replies to the bot. A plain "@bot hello" is not delivered (the document's
 * warning). Other bots' messages are never delivered in groups. The message
 * is stored either way (a reply can target it).
 *
 * @module
 */

import { findEntities, type MessageEntity } from "./_telegram_entities.ts";
import { fileFields, type MethodContext, photoSizes } from "./_telegram_methods.ts";
import type { ChatState, Message, TelegramState, Update, User } from "./_telegram_state.ts";

/** A message a user sends, for {@linkcode inbound}. */
export interface InboundMessage {
  /** The chat id (a private chat's id is its user's id). */
  chat: number;
  /** The sender's user id; default the private chat's user, else the first user added. */
  from?: number;
  /** The text; a caption when media is given. */
  text?: string;
  /** Entities instead of the ones found in the text. */
  entities?: MessageEntity[];
  /** The id of the message (in the same chat) this replies to. */
  replyTo?: number;
  /** A forum topic's message_thread_id. */
  threadId?: number;
  /** A photo's bytes (the largest size). */
  photo?: Uint8Array;
  /** A document. */
  document?: { bytes: Uint8Array; fileName: string; mimeType?: string };
  /** A voice note. */
  voice?: { bytes: Uint8Array; duration?: number; mimeType?: string };
  /** Album id shared by the parts of one album. */
  mediaGroupId?: string;
}

/** A stored message and its update (undefined when privacy mode or allowed_updates left it out). */
export interface Inbound {
  /** The stored message. */
  message: Message;
  /** The queued update. */
  update?: Update;
}

function sender(state: TelegramState, chatId: number, from?: number): User {
  if (from !== undefined) return state.user(from);
  const chat = state.chat(chatId);
  if (chat.chat.type === "private") return state.user(chatId);
  const first = state.users.values().next().value;
  if (!first) throw new Error("Cannot send a group message: add a user first");
  return first;
}

/** Whether the bot gets this user message, under privacy mode (see the module doc). */
function visibleToBot(state: TelegramState, chat: ChatState, message: Message): boolean {
  const type = chat.chat.type;
  if (type === "private" || type === "channel") return true;
  if (message.from?.is_bot) return false;
  if (state.bot.can_read_all_group_messages || chat.botIsAdmin) return true;
  const replied = message.reply_to_message as Message | undefined;
  if (replied?.from?.id === state.bot.id) return true;
  const text = String(message.text ?? message.caption ?? "");
  const entities = (message.entities ?? message.caption_entities ?? []) as MessageEntity[];
  const lastBot = [...chat.messages.values()].reverse().find((m) => m.from?.is_bot);
  return entities.some((e) => {
    if (e.type !== "bot_command") return false;
    const target = text.slice(e.offset, e.offset + e.length).split("@")[1];
    if (target !== undefined) return target.toLowerCase() === state.bot.username?.toLowerCase();
    return lastBot?.from?.id === state.bot.id;
  });
}

/** Stores a user's message and queues it as a `message` update if the bot gets it. */
export function inbound(state: TelegramState, input: InboundMessage): Inbound {
  const chat = state.chat(input.chat);
  const fields: Partial<Message> = { from: sender(state, input.chat, input.from) };
  const reply = input.replyTo === undefined ? undefined : chat.messages.get(input.replyTo);
  if (input.replyTo !== undefined && !reply) {
    throw new Error(`Cannot reply to message ${input.replyTo} of chat ${input.chat}: none`);
  }
  if (input.threadId !== undefined) {
    if (!chat.topics.has(input.threadId)) {
      throw new Error(`Cannot post in topic ${input.threadId} of chat ${input.chat}: none`);
    }
    fields.message_thread_id = input.threadId;
    fields.is_topic_message = true;
  } else if (reply && chat.chat.type === "supergroup" && !chat.chat.is_forum) {
    fields.message_thread_id = reply.message_thread_id ?? reply.message_id;
  }
  const target = reply ??
    (input.threadId === undefined ? undefined : chat.messages.get(input.threadId));
  if (target) {
    const { reply_to_message: _, ...oneLevel } = target;
    fields.reply_to_message = oneLevel as Message;
  }
  if (input.mediaGroupId) fields.media_group_id = input.mediaGroupId;
  const media = input.photo ?? input.document ?? input.voice;
  if (input.photo) {
    fields.photo = photoSizes(state, state.addFile(input.photo, "photos", "jpg"));
  } else if (input.document) {
    const d = input.document;
    const extension = d.fileName.includes(".") ? d.fileName.split(".").at(-1)! : "bin";
    const file = state.addFile(d.bytes, "documents", extension);
    fields.document = {
      file_name: d.fileName,
      mime_type: d.mimeType ?? "application/octet-stream",
      ...fileFields(file),
    };
  } else if (input.voice) {
    const v = input.voice;
    const file = state.addFile(v.bytes, "voice", "oga");
    fields.voice = {
      duration: v.duration ?? 1,
      mime_type: v.mimeType ?? "audio/ogg",
      ...fileFields(file),
    };
  }
  if (input.text !== undefined && input.text !== "") {
    const entities = input.entities ?? findEntities(input.text);
    const [textKey, entitiesKey] = media ? ["caption", "caption_entities"] : ["text", "entities"];
    fields[textKey!] = input.text;
    if (entities.length > 0) fields[entitiesKey!] = entities;
  }
  const message = state.store(chat, fields);
  const seen = visibleToBot(state, chat, message);
  return { message, update: seen ? state.enqueue("message", message) : undefined };
}

/** Queues an `edited_message` update: the message with its new text and edit_date. */
export function edit(
  state: TelegramState,
  chatId: number,
  messageId: number,
  text: string,
): Inbound {
  const message = state.chat(chatId).messages.get(messageId);
  if (!message) throw new Error(`Cannot edit message ${messageId} of chat ${chatId}: none`);
  const key = message.text === undefined && message.caption !== undefined ? "caption" : "text";
  message[key] = text;
  const entities = findEntities(text);
  const entitiesKey = key === "text" ? "entities" : "caption_entities";
  if (entities.length > 0) message[entitiesKey] = entities;
  else delete message[entitiesKey];
  message.edit_date = Math.floor(state.now() / 1000);
  const seen = visibleToBot(state, state.chat(chatId), message);
  return { message, update: seen ? state.enqueue("edited_message", message) : undefined };
}

/** Creates a forum topic (its id is its forum_topic_created message's id); returns the id. */
export function createTopic(state: TelegramState, chatId: number, name: string): number {
  const chat = state.chat(chatId);
  const private_ = chat.chat.type === "private";
  if (!chat.chat.is_forum && !(private_ && state.bot.has_topics_enabled)) {
    throw new Error(`Cannot create a topic in chat ${chatId}: not a forum`);
  }
  const id = chat.nextMessageId;
  chat.topics.set(id, name);
  const message = state.store(chat, {
    from: private_ ? state.user(chatId) : sender(state, chatId),
    message_thread_id: id,
    is_topic_message: true,
    forum_topic_created: { name, icon_color: 7322096 },
  });
  state.enqueue("message", message);
  return id;
}

/** Queues a callback_query for a button of message `messageId`; returns the query id. */
export function press(
  ctx: MethodContext,
  chatId: number,
  messageId: number,
  data: string,
  from?: number,
): string {
  const message = ctx.state.chat(chatId).messages.get(messageId);
  if (!message) throw new Error(`Cannot press a button of message ${messageId}: none`);
  const id = `${4_000_000_000_000 + ctx.callbacks.size + 1}`;
  ctx.callbacks.set(id, ctx.state.now());
  ctx.state.enqueue("callback_query", {
    id,
    from: sender(ctx.state, chatId, from),
    message,
    chat_instance: String(Math.abs(chatId)),
    data,
  });
  return id;
}

/** Blocks (or unblocks) the bot in a private chat and queues the my_chat_member update. */
export function setBlocked(
  state: TelegramState,
  userId: number,
  blocked: boolean,
): Update | undefined {
  const chat = state.chat(userId);
  if (chat.chat.type !== "private") throw new Error(`Cannot block in chat ${userId}: not private`);
  chat.blocked = blocked;
  const member = (status: string) => ({
    user: state.botUser(),
    status,
    ...(status === "kicked" ? { until_date: 0 } : {}),
  });
  return state.enqueue("my_chat_member", {
    chat: chat.chat,
    from: state.user(userId),
    date: Math.floor(state.now() / 1000),
    old_chat_member: member(blocked ? "member" : "kicked"),
    new_chat_member: member(blocked ? "kicked" : "member"),
  });
}

/** Upgrades a basic group to a new supergroup and queues both service messages; returns its id. */
export function migrate(state: TelegramState, groupId: number): number {
  const group = state.chat(groupId);
  if (group.chat.type !== "group") throw new Error(`Cannot migrate chat ${groupId}: not a group`);
  const supergroup = state.addChat("supergroup", group.chat.title ?? "");
  const from = sender(state, groupId);
  const to = state.store(group, { from, migrate_to_chat_id: supergroup.id });
  group.migratedTo = supergroup.id;
  const fromMessage = state.store(state.chat(supergroup.id), {
    from,
    migrate_from_chat_id: groupId,
  });
  state.enqueue("message", to);
  state.enqueue("message", fromMessage);
  return supergroup.id;
}
