/**
 * The state of the Telegram simulator: the bot, users, chats (private,
 * group, supergroup, forum with topics, channel), messages with per-chat
 * ids, files, and the update queue (incrementing update_id, 24 h expiry on
 * an injectable clock, sticky allowed_updates). Sections 1, 4 and 6 of
 * `shared/protocols/telegram.md`.
 *
 * @module
 */

import { ApiError, badRequest } from "./_telegram_http.ts";

/** A User object. */
export interface User {
  /** The user id (a private chat has the same id). */
  id: number;
  /** Whether this is a bot. */
  is_bot: boolean;
  /** First name. */
  first_name: string;
  /** Last name, if any. */
  last_name?: string;
  /** Username without "@", if any. */
  username?: string;
  /** IETF language tag of the user's client. */
  language_code?: string;
}

/** The bot as getMe answers it. */
export interface BotUser extends User {
  /** Whether the bot can be added to groups. */
  can_join_groups: boolean;
  /** True when privacy mode is off. */
  can_read_all_group_messages: boolean;
  /** Whether inline mode is on. */
  supports_inline_queries: boolean;
  /** Whether DMs with the bot use topics. */
  has_topics_enabled: boolean;
}

/** A Chat object (as embedded in a Message). */
export interface Chat {
  /** Chat id: the user's id (private), negative (group), -100… (supergroup, channel). */
  id: number;
  /** The chat kind. */
  type: "private" | "group" | "supergroup" | "channel";
  /** Title of a group, supergroup or channel. */
  title?: string;
  /** Public username, if any. */
  username?: string;
  /** The user's first name (private chats). */
  first_name?: string;
  /** Set on supergroups with topics. */
  is_forum?: true;
}

/** A Message object; the fields beyond these follow the Bot API names. */
export interface Message {
  /** Id, unique within its chat. */
  message_id: number;
  /** Unix time in seconds. */
  date: number;
  /** The chat it belongs to. */
  chat: Chat;
  /** The sender. */
  from?: User;
  /** Topic (or reply-thread) id. */
  message_thread_id?: number;
  /** Set when sent in a forum topic. */
  is_topic_message?: true;
  /** The text of a text message. */
  text?: string;
  /** Unix time of the last edit. */
  edit_date?: number;
  /** Every other field, by its Bot API name (photo, caption, reply_to_message, ...). */
  [field: string]: unknown;
}

/** An Update: update_id plus one payload. */
export interface Update {
  /** Counts up by one. */
  update_id: number;
  /** A new message. */
  message?: Message;
  /** A new version of a message. */
  edited_message?: Message;
  /** The other payloads (my_chat_member, callback_query, ...). */
  [payload: string]: unknown;
}

/** What the simulator keeps per chat. */
export interface ChatState {
  /** The Chat object. */
  chat: Chat;
  /** The id the next message gets. */
  nextMessageId: number;
  /** Stored messages by id. */
  messages: Map<number, Message>;
  /** Topic ids (the id of each forum_topic_created message) and names. */
  topics: Map<number, string>;
  /** Whether the bot is an admin here (it then gets every group message). */
  botIsAdmin?: boolean;
  /** A private chat whose user blocked the bot. */
  blocked: boolean;
  /** Set once a basic group became this supergroup. */
  migratedTo?: number;
  /** The bot's visible chat action and when it lapses (clock ms). */
  action?: { action: string; threadId?: number; until: number };
}

/** A file the simulator serves through getFile and /file/. */
export interface StoredFile {
  /** The id getFile takes. */
  file_id: string;
  /** The stable unique id. */
  file_unique_id: string;
  /** The path under /file/bot<token>/. */
  file_path: string;
  /** The content. */
  bytes: Uint8Array;
}

const DAY_MS = 86_400_000;
/** Update types sent when allowed_updates is empty (section 1). */
const NOT_BY_DEFAULT = new Set(["chat_member", "message_reaction", "message_reaction_count"]);

/** The simulator's state; see the module doc. */
export class TelegramState {
  /** The bot (getMe). */
  readonly bot: BotUser;
  /** Users by id. */
  readonly users = new Map<number, User>();
  /** Chats by id. */
  readonly chats = new Map<number, ChatState>();
  /** Files by file_id. */
  readonly files = new Map<string, StoredFile>();
  /** Unconfirmed updates, oldest first, each with the clock time it was queued. */
  readonly queue: { update: Update; at: number }[] = [];
  /** The sticky allowed_updates ([] = the default set). */
  allowedUpdates: string[] = [];
  #nextUpdateId: number;
  #nextFile = 0;
  #nextGroup = 0;
  #offsetMs = 0;
  readonly #clock: () => number;
  readonly #listeners = new Set<() => void>();

  /** Creates the state for `bot`, reading time from `clock` (ms). */
  constructor(bot: BotUser, clock: () => number, firstUpdateId: number) {
    this.bot = bot;
    this.#clock = clock;
    this.#nextUpdateId = firstUpdateId;
  }

  /** The simulated time in ms: the clock plus every {@linkcode advance}. */
  now(): number {
    return this.#clock() + this.#offsetMs;
  }

  /** Moves simulated time forward by `ms`. */
  advance(ms: number): void {
    this.#offsetMs += ms;
    this.#notify();
  }

  /** The bot as a message's `from` (a User, without getMe's extra fields). */
  botUser(): User {
    const { id, is_bot, first_name, username } = this.bot;
    return { id, is_bot, first_name, ...(username ? { username } : {}) };
  }

  /** Adds a user (a private chat with the bot comes with it). */
  addUser(user: User): User {
    if (this.users.has(user.id)) throw new Error(`Cannot add user ${user.id}: it exists`);
    this.users.set(user.id, user);
    const chat: Chat = { id: user.id, type: "private", first_name: user.first_name };
    if (user.username) chat.username = user.username;
    this.#addChat(chat);
    return user;
  }

  /** Adds a group, supergroup (optionally a forum) or channel; the id comes from a counter. */
  addChat(type: "group" | "supergroup" | "channel", title: string, forum = false): Chat {
    const n = ++this.#nextGroup;
    const id = type === "group" ? -(400_000_000 + n) : -(1_002_000_000_000 + n);
    const chat: Chat = { id, type, title };
    if (forum) chat.is_forum = true;
    const state = this.#addChat(chat);
    // Message 1 of a forum is the General topic's: thread 1 is General, never a created topic.
    if (forum) state.nextMessageId = 2;
    return chat;
  }

  #addChat(chat: Chat): ChatState {
    const state: ChatState = {
      chat,
      nextMessageId: 1,
      messages: new Map(),
      topics: new Map(),
      blocked: false,
    };
    this.chats.set(chat.id, state);
    return state;
  }

  /** The chat `id`, or throws (a control-API mistake, not an API answer). */
  chat(id: number): ChatState {
    const chat = this.chats.get(id);
    if (!chat) throw new Error(`Cannot find chat ${id}: add it first`);
    return chat;
  }

  /** The user `id`, or throws. */
  user(id: number): User {
    const user = this.users.get(id);
    if (!user) throw new Error(`Cannot find user ${id}: add it first`);
    return user;
  }

  /**
   * The chat a chat_id parameter names (an integer or "@username"); the API
   * errors "chat not found", the migration 400 and the blocked 403 otherwise.
   */
  resolveChat(chatId: unknown): ChatState {
    let found: ChatState | undefined;
    if (typeof chatId === "string" && chatId.startsWith("@")) {
      const name = chatId.slice(1).toLowerCase();
      found = [...this.chats.values()].find((c) => c.chat.username?.toLowerCase() === name);
    } else if (chatId !== undefined && chatId !== "" && Number.isSafeInteger(Number(chatId))) {
      found = this.chats.get(Number(chatId));
    } else if (chatId === undefined || chatId === "") {
      throw badRequest("chat_id is empty");
    }
    if (!found) throw badRequest("chat not found");
    if (found.migratedTo !== undefined) {
      throw new ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat", {
        migrate_to_chat_id: found.migratedTo,
      });
    }
    if (found.blocked) throw new ApiError(403, "Forbidden: bot was blocked by the user");
    return found;
  }

  /** Stores a message in `chat` under the next id, dated now. */
  store(chat: ChatState, fields: Partial<Message>): Message {
    const message: Message = {
      message_id: chat.nextMessageId++,
      date: Math.floor(this.now() / 1000),
      chat: chat.chat,
      ...fields,
    };
    chat.messages.set(message.message_id, message);
    return message;
  }

  /** Stores bytes as a file; `path` is the folder getFile names ("photos", "documents", ...). */
  addFile(bytes: Uint8Array, folder: string, extension: string): StoredFile {
    const n = ++this.#nextFile;
    const file: StoredFile = {
      file_id: `AgAD${String(n).padStart(4, "0")}-sim-file`,
      file_unique_id: `AQAD${n}`,
      file_path: `${folder}/file_${n}.${extension}`,
      bytes,
    };
    this.files.set(file.file_id, file);
    return file;
  }

  /**
   * Queues an update of `type` (a copy of `payload`, so later edits do not
   * change it) unless allowed_updates leaves it out; returns it or undefined.
   */
  enqueue(type: string, payload: unknown): Update | undefined {
    const allowed = this.allowedUpdates.length > 0
      ? this.allowedUpdates.includes(type)
      : !NOT_BY_DEFAULT.has(type);
    if (!allowed) return undefined;
    const update: Update = { update_id: this.#nextUpdateId++, [type]: structuredClone(payload) };
    this.queue.push({ update, at: this.now() });
    this.#notify();
    return update;
  }

  /** The unconfirmed updates still within 24 h, oldest first (expired ones are dropped). */
  pending(): Update[] {
    const cutoff = this.now() - DAY_MS;
    while (this.queue.length > 0 && this.queue[0]!.at <= cutoff) this.queue.shift();
    return this.queue.map((q) => q.update);
  }

  /** Confirms by offset: a positive one drops ids below it; -N keeps the last N. */
  confirm(offset: number): void {
    this.pending();
    if (offset > 0) {
      while (this.queue.length > 0 && this.queue[0]!.update.update_id < offset) this.queue.shift();
    } else if (offset < 0) {
      this.queue.splice(0, Math.max(0, this.queue.length + offset));
    }
  }

  /** Drops the one update `id` (a webhook delivery that succeeded). */
  drop(id: number): void {
    const at = this.queue.findIndex((q) => q.update.update_id === id);
    if (at >= 0) this.queue.splice(at, 1);
  }

  /** Calls `listener` on each new update or clock move; returns the unsubscribe. */
  listen(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}
