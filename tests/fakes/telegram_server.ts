/**
 * A simulator of the Telegram Bot API on 127.0.0.1, written from
 * `shared/protocols/telegram.md` (its section 6 is the checklist), not from
 * any client. It speaks HTTP/1.1 on raw TCP (one request per connection,
 * `connection: close`) so a fault can close a connection without an answer,
 * before or after the call took effect. Routes are `/bot<token>/<method>`
 * (GET or POST; query, urlencoded, JSON or multipart; method names ignore
 * case) and `/file/bot<token>/<path>`. Answers use the envelope of section 0.
 * Tests drive it in-process: add users and chats, make users write, read
 * the outbound log, arm faults, switch the rate model on, move the clock.
 *
 * Where the protocol file is silent, these are our assumptions:
 * - a token that is not `<digits>:<[A-Za-z0-9_-]+>` answers 401
 *   "Unauthorized: invalid token specified", another wrong one 401
 *   "Unauthorized"; the bot's id is the token's number;
 * - a path that is neither route answers the 404 envelope "Not Found"; a
 *   method the simulator does not implement answers "Not Found: method not
 *   found"; a /file/ path it does not hold answers 404 "Not Found";
 * - getUpdates accepts a fractional timeout, and `maxLongPollMs` caps every
 *   hold (tests pass small ones); the repeated-offset quirks of section 1
 *   (3 s minimum poll, limit 1) are not simulated; a client that went away
 *   still holds its poll, so the next poll's 409 goes to the dead request;
 * - update_id starts at `firstUpdateId` (1), not at a random value;
 * - every method but getUpdates is logged in {@linkcode TelegramServer.outbound},
 *   failures included (with their error), in simulated time;
 * - "message thread not found" for any message_thread_id that is not a
 *   topic: General (1) in a forum, a reply thread in a plain group, any
 *   thread in a private chat unless the bot has topics enabled and the topic
 *   exists; sendChatAction accepts 1 in a forum;
 * - sendMessageDraft: a non-private chat answers 400 "Bad Request:
 *   TEXTDRAFT_PEER_INVALID", draft_id 0 "Bad Request: draft_id must be
 *   non-zero"; a draft lives 30 s or until the bot next sends to the chat;
 * - a quote that is not in the replied message answers "Bad Request:
 *   QUOTE_TEXT_INVALID"; an inline_message_id edit "Bad Request:
 *   MESSAGE_ID_INVALID" (inline messages are not simulated);
 * - uploads over the cap (10 MB photos, 50 MB other files) and getFile over
 *   20 MB answer "Bad Request: file is too big"; a photo URL is accepted
 *   without being fetched (an empty file); bot commands outside the rules
 *   answer BOT_COMMAND_INVALID / BOT_COMMAND_DESCRIPTION_INVALID;
 * - a callback query can be answered once, within 15 s of the press;
 * - the deleteMessage 48 h rule and the 24 h update expiry use the
 *   simulated clock; long-poll holds, the 409 gap and webhook retries use
 *   real timers.
 * See the `_telegram_*.ts` module docs for the parsers', the rate model's
 * and the webhook's own assumptions.
 *
 * @module
 */

import type { MessageEntity } from "./_telegram_entities.ts";
import {
  type Answer,
  ApiError,
  errorAnswer,
  type Incoming,
  okAnswer,
  type Params,
  readParams,
  readRequest,
  writeResponse,
} from "./_telegram_http.ts";
import type { Inbound, InboundMessage } from "./_telegram_inbound.ts";
import { type DraftFrame, METHODS } from "./_telegram_methods.ts";
import { type OutboundCall, type RequestRecord, TelegramControl } from "./_telegram_control.ts";
import { CONFLICT_SET_WEBHOOK, Poller, sleep } from "./_telegram_polling.ts";
import { type RateLimits, RateModel } from "./_telegram_rate.ts";
import {
  type BotUser,
  type Chat,
  type Message,
  TelegramState,
  type Update,
  type User,
} from "./_telegram_state.ts";
import { type Delivery, Webhook } from "./_telegram_webhook.ts";
import { Faults } from "./_telegram_faults.ts";
import type { Fault } from "./_telegram_faults.ts";

export { Faults };
export type { Fault };
export type { BotUser, Chat, Delivery, DraftFrame, Inbound, InboundMessage, Message };
export type { OutboundCall, Params, RequestRecord };
export { TelegramControl, TelegramState };
export type { MethodContext } from "./_telegram_methods.ts";
export { RateModel } from "./_telegram_rate.ts";
export type { ChatState, StoredFile } from "./_telegram_state.ts";
export type { MessageEntity, RateLimits, Update, User };
export { EntityParseError, type FormattedText } from "./_telegram_entities.ts";
export { parseText } from "./_telegram_format.ts";
export { parseHtml } from "./_telegram_html.ts";
export { parseMarkdownV2 } from "./_telegram_markdown_v2.ts";
export {
  CONFLICT_OTHER_POLL,
  CONFLICT_SET_WEBHOOK,
  CONFLICT_WEBHOOK_ACTIVE,
} from "./_telegram_polling.ts";

/** Options of {@linkcode TelegramServer.start}; every one has a default. */
export interface TelegramServerOptions {
  /** The bot token; default "7000000001:AAH-sim-token_0123456789abcdefghijk". */
  token?: string;
  /** The bot's username; default "hermes_sim_bot". */
  botUsername?: string;
  /** The bot's first_name; default "Hermes". */
  botName?: string;
  /**
   * getMe's can_read_all_group_messages; default false, i.e. privacy mode:
   * in groups the bot gets only commands for it, replies to it and service
   * messages (see `_telegram_inbound.ts`).
   */
  canReadAllGroupMessages?: boolean;
  /** getMe's has_topics_enabled (topics in DMs); default false. */
  hasTopicsEnabled?: boolean;
  /** The clock (ms) behind dates, expiry and the rate model; default Date.now. */
  clock?: () => number;
  /** The first update_id; default 1. */
  firstUpdateId?: number;
  /** The longest getUpdates hold whatever its timeout, in ms; default 50 000. */
  maxLongPollMs?: number;
  /** The least time between two 409 answers, in ms; default 3000. */
  conflictGapMs?: number;
  /** The first webhook retry delay (then doubling), in ms; default 1000. */
  webhookRetryMs?: number;
  /** Switches the rate model on (true, or limits); default off. */
  rateLimits?: boolean | RateLimits;
  /** The port; default 0 (a free one). */
  port?: number;
}

const NAMES = [
  "getMe",
  "getUpdates",
  "setWebhook",
  "deleteWebhook",
  "getWebhookInfo",
  "sendMessage",
  "editMessageText",
  "sendMessageDraft",
  "sendChatAction",
  "sendPhoto",
  "sendDocument",
  "sendVoice",
  "getFile",
  "setMyCommands",
  "getMyCommands",
  "deleteMyCommands",
  "deleteMessage",
  "deleteMessages",
  "answerCallbackQuery",
  "getChat",
]; // deno-fmt-ignore
const CANONICAL = new Map(NAMES.map((name) => [name.toLowerCase(), name]));
const TOKEN = /^\d+:[A-Za-z0-9_-]+$/;
const NOT_FOUND = new ApiError(404, "Not Found");

/**
 * The simulator. Start it, give the client {@linkcode apiBase} (or `url`
 * plus the token), drive it with the control methods and assert on
 * {@linkcode outbound}, {@linkcode requests} and {@linkcode messages}.
 *
 * @example
 * ```ts
 * await using tg = await TelegramServer.start({ maxLongPollMs: 500 });
 * const ada = tg.addUser({ first_name: "Ada" });
 * tg.userText(ada.id, "hello");
 * // ... the client polls `${tg.apiBase}/getUpdates` and answers ...
 * const [reply] = await tg.waitForOutbound("sendMessage", 1);
 * console.log(reply?.params.text);
 * ```
 */
export class TelegramServer extends TelegramControl implements AsyncDisposable {
  /** "http://127.0.0.1:PORT". */
  readonly url: string;
  /** `${url}/bot${token}`: the base of API calls. */
  readonly apiBase: string;
  /** `${url}/file/bot${token}`: the base of downloads. */
  readonly fileBase: string;
  /** The token calls must carry. */
  readonly token: string;

  readonly #listener: Deno.TcpListener;
  readonly #abort = new AbortController();
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #poller: Poller;
  readonly #webhook: Webhook;
  #closing: Promise<void> | undefined;

  private constructor(listener: Deno.TcpListener, options: TelegramServerOptions) {
    const token = options.token ?? "7000000001:AAH-sim-token_0123456789abcdefghijk";
    const bot: BotUser = {
      id: Number(token.split(":")[0]),
      is_bot: true,
      first_name: options.botName ?? "Hermes",
      username: options.botUsername ?? "hermes_sim_bot",
      can_join_groups: true,
      can_read_all_group_messages: options.canReadAllGroupMessages ?? false,
      supports_inline_queries: false,
      has_topics_enabled: options.hasTopicsEnabled ?? false,
    };
    const rate = new RateModel();
    if (options.rateLimits) {
      rate.configure(true, options.rateLimits === true ? {} : options.rateLimits);
    }
    super({
      state: new TelegramState(bot, options.clock ?? Date.now, options.firstUpdateId ?? 1),
      rate,
      drafts: [],
      commands: new Map(),
      callbacks: new Map(),
      draftEnds: new Map(),
    });
    this.#listener = listener;
    this.token = token;
    this.url = `http://127.0.0.1:${listener.addr.port}`;
    this.apiBase = `${this.url}/bot${token}`;
    this.fileBase = `${this.url}/file/bot${token}`;
    this.#poller = new Poller(this.state, {
      maxHoldMs: options.maxLongPollMs ?? 50_000,
      conflictGapMs: options.conflictGapMs ?? 3000,
    }, this.#abort.signal);
    this.#webhook = new Webhook(this.state, options.webhookRetryMs ?? 1000, async (m, p) => {
      await this.#call(m.toLowerCase(), p);
    });
  }

  /**
   * Listens on 127.0.0.1 (a free port unless `port` is given).
   *
   * @example
   * ```ts
   * await using tg = await TelegramServer.start({ botUsername: "my_bot" });
   * console.log(tg.apiBase); // http://127.0.0.1:40123/bot7000000001:AAH-...
   * ```
   */
  static start(options: TelegramServerOptions = {}): Promise<TelegramServer> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: options.port ?? 0 });
    const server = new TelegramServer(listener, options);
    server.#track(server.#accept());
    return Promise.resolve(server);
  }

  /** Waits until a getUpdates long poll is being held. */
  async waitForPoll(timeoutMs = 5000): Promise<void> {
    if (await this.watch(() => this.#poller.holding || undefined, timeoutMs)) return;
    throw new Error(`Timed out after ${timeoutMs} ms waiting for a held getUpdates`);
  }

  /** Every webhook POST, in order. */
  get deliveries(): Delivery[] {
    return this.#webhook.deliveries;
  }

  /** Waits until the webhook was POSTed `count` times. */
  async waitForDeliveries(count: number, timeoutMs = 5000): Promise<Delivery[]> {
    const list = this.#webhook.deliveries;
    const hit = await this.watch(
      () =>
        list.length >= count && (list[count - 1]!.status ?? list[count - 1]!.error) !== undefined
          ? list.slice(0, count)
          : undefined,
      timeoutMs,
    );
    if (hit) return hit;
    throw new Error(`Timed out after ${timeoutMs} ms waiting for ${count} deliveries`);
  }

  // ---- lifecycle -----------------------------------------------------------

  /** Stops listening, ends webhook delivery and closes every connection (held polls get no answer). */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    this.#abort.abort();
    closeQuietly(this.#listener);
    for (const conn of this.#conns) closeQuietly(conn);
    await this.#webhook.close();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  // ---- HTTP ----------------------------------------------------------------

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return;
      }
      conn.setNoDelay(true);
      this.#conns.add(conn);
      this.#track(this.#serve(conn));
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    try {
      const incoming = await readRequest(conn);
      if (!incoming) return;
      const record: RequestRecord = {
        httpMethod: incoming.method,
        path: new URL(incoming.target, this.url).pathname,
        method: "",
        params: {},
        at: Date.now(),
      };
      this.requests.push(record);
      const answer = await this.#route(incoming, record);
      this.notify();
      if (answer === "drop" || this.#abort.signal.aborted) return;
      record.status = answer.status;
      await writeResponse(conn, answer);
    } catch {
      // the client went away, or the server is closing
    } finally {
      this.#conns.delete(conn);
      closeQuietly(conn);
    }
  }

  async #route(incoming: Incoming, record: RequestRecord): Promise<Answer | "drop"> {
    const url = new URL(incoming.target, this.url);
    const file = /^\/file\/bot([^/]*)\/(.+)$/.exec(url.pathname);
    const api = /^\/bot([^/]*)\/([^/]+)$/.exec(url.pathname);
    const token = file?.[1] ?? api?.[1];
    if (token === undefined) return errorAnswer(NOT_FOUND);
    if (!TOKEN.test(token)) {
      return errorAnswer(new ApiError(401, "Unauthorized: invalid token specified"));
    }
    if (token !== this.token) return errorAnswer(new ApiError(401, "Unauthorized"));
    if (file) {
      record.method = "file";
      const path = decodeURIComponent(file[2]!);
      const stored = [...this.state.files.values()].find((f) => f.file_path === path);
      return stored ? { status: 200, body: stored.bytes } : errorAnswer(NOT_FOUND);
    }
    const method = api![2]!.toLowerCase();
    record.method = method;
    if (!CANONICAL.has(method)) {
      return errorAnswer(new ApiError(404, "Not Found: method not found"));
    }
    try {
      record.params = await readParams(incoming, url);
    } catch (error) {
      if (error instanceof ApiError) return errorAnswer(error);
      throw error;
    }
    this.notify();
    const fault = this.takeFault(method, record.params ?? {});
    if (fault) {
      if ("reset" in fault && fault.reset === "before") return "drop";
      if ("error" in fault) {
        // A refusal is a failed call like any other: the outbound log shows it.
        if (method !== "getupdates") {
          this.outbound.push({
            method: CANONICAL.get(method) ?? method,
            params: record.params,
            at: this.state.now(),
            ok: false,
            error: { error_code: fault.error, description: fault.description },
          });
        }
        return errorAnswer(new ApiError(fault.error, fault.description, fault.parameters));
      }
      if ("http" in fault) {
        return { status: fault.http, body: fault.body ?? "", type: fault.type ?? "text/plain" };
      }
      if ("delayMs" in fault) await sleep(fault.delayMs, this.#abort.signal);
      if ("stall" in fault) {
        await sleep(2 ** 31 - 1, this.#abort.signal);
        return "drop";
      }
    }
    const answer = await this.#call(method, record.params);
    return fault && "reset" in fault ? "drop" : answer;
  }

  /** Runs one API call and logs it (all but getUpdates) in the outbound log. */
  async #call(method: string, params: Params): Promise<Answer | "drop"> {
    const name = CANONICAL.get(method) ?? method;
    const log = method === "getupdates" ? undefined : this
      .outbound[
        this.outbound.push({ method: name, params, at: this.state.now(), ok: false }) - 1
      ]!;
    try {
      const { result, description } = await this.#dispatch(method, params);
      if (result === undefined) return "drop";
      if (log) Object.assign(log, { ok: true, result });
      return okAnswer(result, description);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (log) log.error = { error_code: error.code, description: error.description };
      return this.#abort.signal.aborted ? "drop" : errorAnswer(error);
    } finally {
      this.notify();
    }
  }

  async #dispatch(
    method: string,
    params: Params,
  ): Promise<{ result: unknown; description?: string }> {
    switch (method) {
      case "getme":
        return { result: this.state.bot };
      case "getupdates":
        return { result: await this.#poller.getUpdates(params, this.#webhook.url !== "") };
      case "setwebhook":
      case "deletewebhook": {
        const description = this.#webhook.set(
          method === "deletewebhook" ? { ...params, url: "" } : params,
          () => this.#poller.abort(CONFLICT_SET_WEBHOOK),
        );
        return { result: true, description };
      }
      case "getwebhookinfo":
        return { result: this.#webhook.info() };
      default:
        return { result: await METHODS[method]!(this.ctx, params) };
    }
  }

  #track(task: Promise<void>): void {
    const tracked: Promise<void> = task.catch(() => {}).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed
  }
}
