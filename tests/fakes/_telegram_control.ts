/**
 * The control API of the Telegram simulator, the part a test calls
 * in-process: users and chats, what users do (each queued as an Update),
 * faults armed per method, the rate model, the clock, and what the bot did
 * (the outbound log, stored messages, drafts, chat actions, commands).
 * `TelegramServer` adds the HTTP side.
 *
 * @module
 */

import type { Fault } from "./_telegram_faults.ts";
import type { Params } from "./_telegram_http.ts";
import {
  createTopic,
  edit,
  type Inbound,
  inbound,
  type InboundMessage,
  migrate,
  press,
  setBlocked,
} from "./_telegram_inbound.ts";
import type { DraftFrame, MethodContext } from "./_telegram_methods.ts";
import type { RateLimits } from "./_telegram_rate.ts";
import type { BotUser, Chat, Message, TelegramState, Update, User } from "./_telegram_state.ts";

/** One HTTP request the simulator received. */
export interface RequestRecord {
  /** "GET" or "POST". */
  httpMethod: string;
  /** The URL path (with the token). */
  path: string;
  /** The API method in lower case ("sendmessage"), "file" for a download, "" otherwise. */
  method: string;
  /** The call's parameters (query and body merged). */
  params: Params;
  /** Arrival (Date.now). */
  at: number;
  /** The HTTP status answered; undefined while pending or when the connection was closed. */
  status?: number;
}

/** One call in the outbound log. */
export interface OutboundCall {
  /** The method as the Bot API spells it, e.g. "sendMessage". */
  method: string;
  /** Its parameters (multipart files as File). */
  params: Params;
  /** Simulated time of the call (ms). */
  at: number;
  /** Whether it succeeded. */
  ok: boolean;
  /** The result on success. */
  result?: unknown;
  /** error_code and description on failure. */
  error?: { error_code: number; description: string };
}

/** The in-process control API; see the module doc. */
export class TelegramControl {
  /** Every HTTP request, in order. */
  readonly requests: RequestRecord[] = [];
  /** Every API call but getUpdates, in order, failures included. */
  readonly outbound: OutboundCall[] = [];
  /** Chats, users, messages, files and the update queue. */
  readonly state: TelegramState;
  /** What the method handlers share. */
  protected readonly ctx: MethodContext;
  readonly #watchers = new Set<() => void>();
  readonly #faults = new Map<
    string,
    { fault: Fault; count: number; when: (params: Params) => boolean }[]
  >();
  #nextUser = 1000;
  #albums = 0;

  /** Controls `ctx` (and its state). */
  constructor(ctx: MethodContext) {
    this.ctx = ctx;
    this.state = ctx.state;
  }

  /** The bot, as getMe answers it. */
  get bot(): BotUser {
    return this.state.bot;
  }

  // ---- users and chats -----------------------------------------------------

  /** Adds a user (with its private chat); id from a counter (1001, 1002, ...) unless given. */
  addUser(user: Partial<User> = {}): User {
    const id = user.id ?? ++this.#nextUser;
    return this.state.addUser({
      id,
      is_bot: false,
      first_name: `User ${id}`,
      language_code: "en",
      ...user,
    });
  }

  /** Adds a basic group; returns its Chat (a negative id). */
  addGroup(title: string): Chat {
    return this.state.addChat("group", title);
  }

  /** Adds a supergroup (-100… id), a forum with `{ forum: true }`. */
  addSupergroup(title: string, options: { forum?: boolean } = {}): Chat {
    return this.state.addChat("supergroup", title, options.forum);
  }

  /** Adds a channel (-100… id) with the bot as its admin. */
  addChannel(title: string): Chat {
    const chat = this.state.addChat("channel", title);
    this.state.chat(chat.id).botIsAdmin = true;
    return chat;
  }

  /** Creates a forum topic (or a DM topic when the bot has topics enabled); returns its thread id. */
  createTopic(chatId: number, name: string): number {
    return createTopic(this.state, chatId, name);
  }

  /** Makes the bot an admin of a group (it then gets every message despite privacy mode), or not. */
  setBotAdmin(chatId: number, isAdmin = true): void {
    this.state.chat(chatId).botIsAdmin = isAdmin;
  }

  /** Blocks the bot in a private chat: sends answer 403, a my_chat_member "kicked" is queued. */
  block(userId: number): Update | undefined {
    return setBlocked(this.state, userId, true);
  }

  /** Unblocks the bot: a my_chat_member "member" is queued. */
  unblock(userId: number): Update | undefined {
    return setBlocked(this.state, userId, false);
  }

  /** Upgrades a basic group to a new supergroup (service messages queued); returns the new id. */
  migrate(groupId: number): number {
    return migrate(this.state, groupId);
  }

  // ---- what users do -------------------------------------------------------

  /** Queues any user message (text, media, reply, topic); see {@linkcode InboundMessage}. */
  inbound(message: InboundMessage): Inbound {
    return inbound(this.state, message);
  }

  /**
   * Queues a text from a user, with the entities clients find (commands,
   * mentions, URLs). In a group, privacy mode may keep it from the bot: the
   * returned `update` is then undefined (start with
   * `canReadAllGroupMessages: true` or call {@linkcode setBotAdmin} to get
   * every message).
   */
  userText(chatId: number, text: string, extra: Partial<InboundMessage> = {}): Inbound {
    return inbound(this.state, { ...extra, chat: chatId, text });
  }

  /**
   * Queues a command: `/name@bot args` (or `/name args` with `addressed:
   * false`) with its bot_command entity.
   */
  userCommand(
    chatId: number,
    name: string,
    args = "",
    options: { addressed?: boolean; from?: number } = {},
  ): Inbound {
    const target = options.addressed ?? true ? `@${this.bot.username}` : "";
    const text = `/${name}${target}${args === "" ? "" : ` ${args}`}`;
    return inbound(this.state, { chat: chatId, text, from: options.from });
  }

  /**
   * Queues an album: one photo message per part, sharing a media_group_id,
   * the caption on the first (or `captions`, one per part). With
   * `mediaGroupId` the parts join an album queued before (its late items).
   */
  userAlbum(
    chatId: number,
    photos: Uint8Array[],
    options: { caption?: string; captions?: string[]; mediaGroupId?: string; from?: number } = {},
  ): Inbound[] {
    const mediaGroupId = options.mediaGroupId ??
      String(13_000_000_000_000_000 + ++this.#albums);
    return photos.map((photo, i) => {
      const caption = options.captions?.[i] ?? (i === 0 ? options.caption : undefined);
      return inbound(this.state, {
        chat: chatId,
        from: options.from,
        photo,
        mediaGroupId,
        ...(caption ? { text: caption } : {}),
      });
    });
  }

  /** Queues a long text the way clients split it: parts of at most 4096 UTF-16 units. */
  userLongText(chatId: number, text: string, extra: Partial<InboundMessage> = {}): Inbound[] {
    const parts = text.match(/[\s\S]{1,4096}/g) ?? [];
    return parts.map((part) => inbound(this.state, { ...extra, chat: chatId, text: part }));
  }

  /** Queues an edited_message: the user changed the text of one of their messages. */
  userEdit(chatId: number, messageId: number, text: string): Inbound {
    return edit(this.state, chatId, messageId, text);
  }

  /** Queues a callback_query for a button of a message; returns the query id. */
  pressButton(chatId: number, messageId: number, data: string, from?: number): string {
    return press(this.ctx, chatId, messageId, data, from);
  }

  // ---- faults, rates, clock ------------------------------------------------

  /**
   * Answers the next `count` calls of `method` (any case; "*" for every
   * method) with `fault`; with `when`, only the calls whose parameters it
   * accepts (the others run). Faults apply after routing and the token check.
   */
  failNext(
    method: string,
    fault: Fault,
    count = 1,
    when: (params: Params) => boolean = () => true,
  ): void {
    const key = method.toLowerCase();
    const list = this.#faults.get(key) ?? [];
    list.push({ fault, count, when });
    this.#faults.set(key, list);
  }

  /** Drops every armed fault. */
  clearFaults(): void {
    this.#faults.clear();
  }

  /** Switches the rate model on (with limits merged into the defaults) or off; resets its counts. */
  setRateLimits(on: boolean, limits: RateLimits = {}): void {
    this.ctx.rate.configure(on, limits);
  }

  /** Moves simulated time forward (expiry, dates, rate budgets, draft and action lifetimes). */
  advanceClock(ms: number): void {
    this.state.advance(ms);
  }

  // ---- observing -----------------------------------------------------------

  /** Outbound calls of `method` (any case). */
  outboundOf(method: string): OutboundCall[] {
    const key = method.toLowerCase();
    return this.outbound.filter((call) => call.method.toLowerCase() === key);
  }

  /** Waits until `method` was called `count` times (failures count); resolves with those calls. */
  async waitForOutbound(method: string, count: number, timeoutMs = 5000): Promise<OutboundCall[]> {
    const hit = await this.watch(() => {
      const calls = this.outboundOf(method);
      return calls.length >= count ? calls.slice(0, count) : undefined;
    }, timeoutMs);
    if (hit) return hit;
    throw new Error(
      `Timed out after ${timeoutMs} ms waiting for ${count} ${method} calls: ` +
        `${this.outboundOf(method).length} so far`,
    );
  }

  /** The messages stored in a chat (users' and the bot's), by message_id. */
  messages(chatId: number): Message[] {
    return [...this.state.chat(chatId).messages.values()];
  }

  /** The unconfirmed updates, oldest first. */
  pendingUpdates(): Update[] {
    return this.state.pending();
  }

  /** Every sendMessageDraft frame accepted, in order. */
  get drafts(): DraftFrame[] {
    return this.ctx.drafts;
  }

  /** The drafts visible in a chat: the last frame of each draft_id, under 30 s old, not ended by a send. */
  liveDrafts(chatId: number): DraftFrame[] {
    const now = this.state.now();
    const ended = this.ctx.draftEnds.get(chatId) ?? -Infinity;
    const last = new Map<number, DraftFrame>();
    for (const frame of this.ctx.drafts) {
      if (frame.chat_id === chatId) last.set(frame.draft_id, frame);
    }
    return [...last.values()].filter((f) => f.at > now - 30_000 && f.at > ended);
  }

  /** The chat action shown in a chat (5 s after sendChatAction, until the bot sends), or undefined. */
  chatAction(chatId: number): string | undefined {
    const action = this.state.chat(chatId).action;
    return action && action.until > this.state.now() ? action.action : undefined;
  }

  /** The commands set for a scope (default {type:"default"}) and language. */
  commands(scope: Record<string, unknown> = { type: "default" }, languageCode = ""): unknown[] {
    return this.ctx.commands.get(JSON.stringify([scope, languageCode])) ?? [];
  }

  /** The fault armed for `method` (or "*"), used up by one. */
  protected takeFault(method: string, params: Params): Fault | undefined {
    for (const key of [method, "*"]) {
      const list = this.#faults.get(key);
      const head = list?.[0];
      if (!head || !head.when(params)) continue;
      if (--head.count <= 0) list.shift();
      return head.fault;
    }
    return undefined;
  }

  /** Resolves with probe()'s first value (checked on each event and every 10 ms), or undefined. */
  protected watch<T>(probe: () => T | undefined, ms: number): Promise<T | undefined> {
    const hit = probe();
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve) => {
      const done = (value: T | undefined) => {
        clearTimeout(timer);
        clearInterval(ticker);
        this.#watchers.delete(check);
        resolve(value);
      };
      const check = () => {
        const value = probe();
        if (value !== undefined) done(value);
      };
      const timer = setTimeout(() => done(undefined), ms);
      const ticker = setInterval(check, 10);
      this.#watchers.add(check);
    });
  }

  /** Re-runs every pending watch probe. */
  protected notify(): void {
    for (const check of [...this.#watchers]) check();
  }
}
