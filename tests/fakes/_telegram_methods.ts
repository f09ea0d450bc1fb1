/**
 * The Bot API methods of the Telegram simulator that act on chats and
 * messages (section 2 and 3 of `shared/protocols/telegram.md`): sends,
 * edits, drafts, chat actions, media, files, commands, deletions and
 * callback answers, each with the checks and descriptions of the document.
 * Transport methods (getUpdates, webhooks, getMe) live in the server.
 *
 * @module
 */

import type { FormattedText } from "./_telegram_entities.ts";
import { messageText } from "./_telegram_format.ts";
import { badRequest, type Params } from "./_telegram_http.ts";
import { integer } from "./_telegram_polling.ts";
import type { RateModel } from "./_telegram_rate.ts";
import type { ChatState, Message, StoredFile, TelegramState } from "./_telegram_state.ts";
import { truthy } from "./_telegram_webhook.ts";

/** One sendMessageDraft frame. */
export interface DraftFrame {
  /** The private chat. */
  chat_id: number;
  /** The draft (the same id animates in place). */
  draft_id: number;
  /** Parsed, trimmed text. */
  text: string;
  /** Its entities. */
  entities: FormattedText["entities"];
  /** The topic, if any. */
  message_thread_id?: number;
  /** Simulated time (ms). */
  at: number;
}

/** What the method handlers share. */
export interface MethodContext {
  /** Chats, messages and updates. */
  state: TelegramState;
  /** The flood-control model. */
  rate: RateModel;
  /** Every accepted draft frame, in order. */
  drafts: DraftFrame[];
  /** setMyCommands lists by `JSON.stringify([scope, language_code])`. */
  commands: Map<string, unknown[]>;
  /** Callback query ids and the simulated time they were pressed. */
  callbacks: Map<string, number>;
  /** When the bot last sent a message into each chat (ends its drafts), simulated ms. */
  draftEnds: Map<number, number>;
}

type Handler = (ctx: MethodContext, params: Params) => unknown;

const ACTIONS = new Set([
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note",
]);
const MB = 1024 * 1024;
const NOT_MODIFIED = "message is not modified: specified new message content and reply markup " +
  "are exactly the same as a current content and reply markup of the message";

/** A JSON parameter: an object/array as given, or parsed from its string. */
export function jsonParam(value: unknown, name: string): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    throw badRequest(`can't parse ${name} JSON object`);
  }
}

/** The topic a message_thread_id names, or undefined; "message thread not found" otherwise. */
function thread(ctx: MethodContext, chat: ChatState, raw: unknown, general = false) {
  const id = integer(raw, 0);
  if (id === 0) return undefined;
  if (general && id === 1 && chat.chat.is_forum) return 1;
  const topics = chat.chat.is_forum ||
    (chat.chat.type === "private" && ctx.state.bot.has_topics_enabled);
  if (!topics || !chat.topics.has(id)) throw badRequest("message thread not found");
  return id;
}

/** The message a reply names, undefined when it may be missing; the 400 otherwise. */
function replyTarget(ctx: MethodContext, chat: ChatState, params: Params): Message | undefined {
  const reply = jsonParam(params.reply_parameters, "reply parameters") as
    | Record<string, unknown>
    | undefined;
  const id = integer(reply?.message_id ?? params.reply_to_message_id, 0);
  if (id === 0) return undefined;
  const where = reply?.chat_id === undefined ? chat : ctx.state.resolveChat(reply.chat_id);
  const target = where.messages.get(id);
  if (!target) {
    if (truthy(reply?.allow_sending_without_reply ?? params.allow_sending_without_reply)) {
      return undefined;
    }
    throw badRequest("message to be replied not found");
  }
  const quote = reply?.quote;
  if (typeof quote === "string" && !String(target.text ?? target.caption ?? "").includes(quote)) {
    throw badRequest("QUOTE_TEXT_INVALID");
  }
  const { reply_to_message: _, ...oneLevel } = target;
  return oneLevel as Message;
}

/** Stores a message from the bot; checks thread, reply and rate; clears the chat action. */
function sendFromBot(
  ctx: MethodContext,
  chat: ChatState,
  params: Params,
  content: Partial<Message>,
): Message {
  const threadId = thread(ctx, chat, params.message_thread_id);
  const reply = replyTarget(ctx, chat, params);
  ctx.rate.take(chat.chat.id, chat.chat.type !== "private", ctx.state.now());
  const fields: Partial<Message> = { from: ctx.state.botUser(), ...content };
  if (threadId !== undefined) {
    Object.assign(fields, { message_thread_id: threadId, is_topic_message: true });
  }
  if (reply) fields.reply_to_message = reply;
  const markup = jsonParam(params.reply_markup, "reply markup");
  if (markup !== undefined) fields.reply_markup = markup;
  const message = ctx.state.store(chat, reorder(fields));
  chat.action = undefined;
  ctx.draftEnds.set(chat.chat.id, ctx.state.now());
  return message;
}

/** Puts the Bot API's usual field order first (from, thread, reply) for readable payloads. */
function reorder(fields: Partial<Message>): Partial<Message> {
  const { from, message_thread_id, is_topic_message, reply_to_message, ...rest } = fields;
  return Object.fromEntries(
    Object.entries({ from, message_thread_id, is_topic_message, reply_to_message, ...rest })
      .filter(([, v]) => v !== undefined),
  ) as Partial<Message>;
}

function withEntities(formatted: FormattedText, textKey = "text", entitiesKey = "entities") {
  const out: Record<string, unknown> = { [textKey]: formatted.text };
  if (formatted.entities.length > 0) out[entitiesKey] = formatted.entities;
  return out;
}

/** The bytes of an upload: a multipart file, an `attach://` name, a known file_id or a URL. */
async function inputFile(
  ctx: MethodContext,
  params: Params,
  field: string,
  capMb: number,
): Promise<{ file: StoredFile; name?: string; type?: string }> {
  let value = params[field];
  if (value === undefined || value === "") throw badRequest(`there is no ${field} in the request`);
  if (typeof value === "string" && value.startsWith("attach://")) value = params[value.slice(9)];
  if (value instanceof Blob) {
    if (value.size > capMb * MB) throw badRequest("file is too big");
    const bytes = new Uint8Array(await value.arrayBuffer());
    const name = value instanceof File ? value.name : undefined;
    const extension = name?.split(".").at(-1) ?? (field === "photo" ? "jpg" : "bin");
    const file = ctx.state.addFile(bytes, `${field}s`, extension);
    return { file, name, type: value.type || undefined };
  }
  const text = String(value);
  const known = ctx.state.files.get(text);
  if (known) return { file: known };
  if (/^https?:\/\//.test(text)) {
    const file = ctx.state.addFile(new Uint8Array(0), `${field}s`, "bin");
    return { file, name: new URL(text).pathname.split("/").at(-1) || undefined };
  }
  throw badRequest("wrong file identifier/HTTP URL specified");
}

/** The PhotoSize list (smallest first) for stored bytes: a thumbnail prefix and the full file. */
export function photoSizes(state: TelegramState, full: StoredFile): Record<string, unknown>[] {
  const thumb = state.addFile(
    full.bytes.slice(0, Math.ceil(full.bytes.length / 4)),
    "photos",
    "jpg",
  );
  return [
    { ...fileFields(thumb), width: 90, height: 68 },
    { ...fileFields(full), width: 1280, height: 960 },
  ];
}

/** file_id, file_unique_id and file_size of a stored file. */
export function fileFields(file: StoredFile) {
  return {
    file_id: file.file_id,
    file_unique_id: file.file_unique_id,
    file_size: file.bytes.length,
  };
}

async function sendMedia(ctx: MethodContext, params: Params, field: string): Promise<Message> {
  const chat = ctx.state.resolveChat(params.chat_id);
  const input = await inputFile(ctx, params, field, field === "photo" ? 10 : 50);
  const caption = params.caption === undefined || params.caption === ""
    ? undefined
    : messageText(params.caption, params.parse_mode, params.caption_entities, {
      limit: 1024,
      caption: true,
      allowEmpty: true,
    });
  const content: Record<string, unknown> = {};
  const fields = fileFields(input.file);
  if (field === "photo") content.photo = photoSizes(ctx.state, input.file);
  else if (field === "voice") {
    content.voice = {
      ...fields,
      duration: integer(params.duration, 1),
      mime_type: input.type ?? "audio/ogg",
    };
  } else {
    content.document = {
      ...fields,
      ...(input.name ? { file_name: input.name } : {}),
      mime_type: input.type ?? "application/octet-stream",
    };
  }
  if (caption && caption.text !== "") {
    Object.assign(content, withEntities(caption, "caption", "caption_entities"));
  }
  return sendFromBot(ctx, chat, params, content);
}

/** The handlers, by lower-case method name. */
export const METHODS: Record<string, Handler> = {
  sendmessage(ctx, params) {
    const formatted = messageText(params.text, params.parse_mode, params.entities);
    const chat = ctx.state.resolveChat(params.chat_id);
    return sendFromBot(ctx, chat, params, withEntities(formatted));
  },

  editmessagetext(ctx, params) {
    if (params.inline_message_id !== undefined) throw badRequest("MESSAGE_ID_INVALID");
    const formatted = messageText(params.text, params.parse_mode, params.entities);
    const chat = ctx.state.resolveChat(params.chat_id);
    const message = chat.messages.get(integer(params.message_id, 0));
    if (!message) throw badRequest("message to edit not found");
    if (message.from?.id !== ctx.state.bot.id) throw badRequest("message can't be edited");
    if (message.text === undefined) throw badRequest("there is no text in the message to edit");
    const markup = jsonParam(params.reply_markup, "reply markup");
    const same = message.text === formatted.text &&
      JSON.stringify(message.entities ?? []) === JSON.stringify(formatted.entities) &&
      JSON.stringify(message.reply_markup) === JSON.stringify(markup);
    if (same) throw badRequest(NOT_MODIFIED);
    ctx.rate.take(chat.chat.id, chat.chat.type !== "private", ctx.state.now());
    delete message.entities;
    Object.assign(message, withEntities(formatted), {
      edit_date: Math.floor(ctx.state.now() / 1000),
    });
    if (markup === undefined) delete message.reply_markup;
    else message.reply_markup = markup;
    return message;
  },

  sendmessagedraft(ctx, params) {
    const formatted = messageText(params.text, params.parse_mode, params.entities, {
      allowEmpty: true,
    });
    if (!/^-?\d+$/.test(String(params.chat_id ?? ""))) throw badRequest("chat not found");
    const chat = ctx.state.resolveChat(params.chat_id);
    if (chat.chat.type !== "private") throw badRequest("TEXTDRAFT_PEER_INVALID");
    const draftId = integer(params.draft_id, 0);
    if (draftId === 0) throw badRequest("draft_id must be non-zero");
    const threadId = thread(ctx, chat, params.message_thread_id);
    ctx.drafts.push({
      chat_id: chat.chat.id,
      draft_id: draftId,
      text: formatted.text,
      entities: formatted.entities,
      ...(threadId === undefined ? {} : { message_thread_id: threadId }),
      at: ctx.state.now(),
    });
    return true;
  },

  sendchataction(ctx, params) {
    const chat = ctx.state.resolveChat(params.chat_id);
    const action = String(params.action ?? "");
    if (!ACTIONS.has(action)) throw badRequest("wrong parameter action in request");
    if (chat.chat.type === "channel") throw badRequest("chat not found");
    const threadId = thread(ctx, chat, params.message_thread_id, true);
    chat.action = { action, threadId, until: ctx.state.now() + 5000 };
    return true;
  },

  sendphoto: (ctx, params) => sendMedia(ctx, params, "photo"),
  senddocument: (ctx, params) => sendMedia(ctx, params, "document"),
  sendvoice: (ctx, params) => sendMedia(ctx, params, "voice"),

  getfile(ctx, params) {
    const file = ctx.state.files.get(String(params.file_id ?? ""));
    if (!file) throw badRequest("invalid file_id");
    if (file.bytes.length > 20 * MB) throw badRequest("file is too big");
    return { ...fileFields(file), file_path: file.file_path };
  },

  setmycommands(ctx, params) {
    const commands = jsonParam(params.commands, "commands");
    if (!Array.isArray(commands)) throw badRequest("can't parse commands JSON object");
    if (commands.length > 100) throw badRequest("BOT_COMMANDS_TOO_MUCH");
    for (const c of commands as Record<string, unknown>[]) {
      if (typeof c?.command !== "string" || !/^\/?[a-z0-9_]{1,32}$/.test(c.command)) {
        throw badRequest("BOT_COMMAND_INVALID");
      }
      const description = String(c.description ?? "");
      if (description.length < 1 || description.length > 256) {
        throw badRequest("BOT_COMMAND_DESCRIPTION_INVALID");
      }
    }
    ctx.commands.set(commandKey(params), commands);
    return true;
  },

  getmycommands: (ctx, params) => ctx.commands.get(commandKey(params)) ?? [],

  deletemycommands(ctx, params) {
    ctx.commands.delete(commandKey(params));
    return true;
  },

  deletemessage(ctx, params) {
    const chat = ctx.state.resolveChat(params.chat_id);
    const id = integer(params.message_id, 0);
    if (!chat.messages.has(id)) throw badRequest("message to delete not found");
    deletable(ctx, chat, id);
    chat.messages.delete(id);
    return true;
  },

  deletemessages(ctx, params) {
    const chat = ctx.state.resolveChat(params.chat_id);
    const ids = jsonParam(params.message_ids, "message identifiers");
    if (!Array.isArray(ids) || ids.length < 1 || ids.length > 100) {
      throw badRequest("message identifiers are not specified");
    }
    for (const id of ids.map(Number)) if (chat.messages.has(id)) deletable(ctx, chat, id);
    for (const id of ids.map(Number)) chat.messages.delete(id);
    return true;
  },

  answercallbackquery(ctx, params) {
    const id = String(params.callback_query_id ?? "");
    const pressed = ctx.callbacks.get(id);
    if (pressed === undefined || ctx.state.now() - pressed > 15_000) {
      throw badRequest("query is too old and response timeout expired or query ID is invalid");
    }
    if (String(params.text ?? "").length > 200) throw badRequest("MESSAGE_TOO_LONG");
    ctx.callbacks.delete(id);
    return true;
  },

  getchat: (ctx, params) => ctx.state.resolveChat(params.chat_id).chat,
};

/** Throws "message can't be deleted" past 48 h, or for another's message outside private chats. */
function deletable(ctx: MethodContext, chat: ChatState, id: number): void {
  const message = chat.messages.get(id)!;
  const old = ctx.state.now() / 1000 - message.date > 48 * 3600;
  const foreign = message.from?.id !== ctx.state.bot.id && chat.chat.type !== "private";
  if (old || foreign) throw badRequest("message can't be deleted");
}

function commandKey(params: Params): string {
  const scope = jsonParam(params.scope, "scope") ?? { type: "default" };
  return JSON.stringify([scope, String(params.language_code ?? "")]);
}
