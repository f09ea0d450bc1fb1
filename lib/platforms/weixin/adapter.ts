/**
 * The Weixin adapter: one iLink bot account. Messages come from the long
 * poll (`poller.ts`), each carrying its peer's context token as the reply
 * context; the cursor and the tokens are saved only once their batch is
 * journaled. Replies go out formatted for Weixin (`format.ts`), one
 * `sendmessage` at a time (`sender.ts`), files first, through the CDN.
 *
 * @module
 */

import { stateOf } from "../platform_state.ts";
import { createHash } from "node:crypto";
import { ConfigError, PlatformError } from "../../errors.ts";
import type { AdapterContext, Capabilities, PlatformAdapter } from "../adapter.ts";
import type {
  Attachment,
  Json,
  MessageEvent,
  OutboundMessage,
  SendContext,
  SendResult,
  SessionSource,
} from "../event.ts";
import type { LinkHealth } from "../health.ts";
import { BoundedMap } from "../../util/bounded_map.ts";
import { SeenIds } from "../seen_ids.ts";
import { TextBatcher } from "../text_batcher.ts";
import {
  readAccount,
  readContextTokens,
  readCursor,
  readSendProgress,
  saveContextTokens,
  saveCursor,
  saveSendProgress,
} from "./accounts.ts";
import { ILINK_TIMEOUTS, IlinkClient, IlinkError } from "./api.ts";
import { RateLimitBreaker } from "./breaker.ts";
import { ContextTokens } from "./context_tokens.ts";
import { weixinChunks } from "./format.ts";
import { readInbound, type WeixinInbound } from "./inbound.ts";
import {
  decryptEcb,
  downloadUrl,
  isSilk,
  mediaKey,
  uploadMedia,
  WEIXIN_MEDIA_HOSTS,
} from "./media.ts";
import { WeixinPoller } from "./poller.ts";
import { DEFAULT_WEIXIN_BASE_URL, type WeixinSettings } from "./section.ts";
import { type SendOutcome, WeixinSender } from "./sender.ts";

/** The credential lock scope of a bot token. */
export const WEIXIN_LOCK_SCOPE = "weixin-bot-token";

/** What a Weixin bot can do. */
export const WEIXIN_CAPABILITIES: Capabilities = {
  streaming: "final", // no editing
  maxMessageLength: 2000,
  lengthUnit: "utf16",
  typing: true,
  proactive: { dm: true, group: false },
  media: { in: ["image", "file", "voice", "video"], out: ["image", "file", "voice", "video"] },
};

/** How long a typing ticket is good for. */
const TICKET_TTL_MS = 600_000;
/** Most peers whose typing ticket is kept (the most recently fetched). */
const MAX_TICKETS = 1_000;
/** Most half-sent reply parts whose progress is kept. */
const MAX_PROGRESS = 1_000;

/**
 * The context token a reply context carries.
 *
 * @example
 * ```ts
 * replyToken({ context_token: "c1", at: "2026-12-01T10:00:00.000Z" }); // "c1"
 * ```
 */
export function replyToken(context: Json | undefined): string | undefined {
  if (typeof context !== "object" || context === null || Array.isArray(context)) return undefined;
  const token = context.context_token;
  return typeof token === "string" && token !== "" ? token : undefined;
}

/** A message held by the text batcher, with whoever waits for it to be journaled. */
interface Held {
  readonly event: MessageEvent;
  readonly settled: ((error?: unknown) => void)[];
}

/**
 * One Weixin bot account.
 *
 * @example
 * ```ts
 * import type { AdapterContext } from "../adapter.ts";
 * import type { WeixinSettings } from "./section.ts";
 * declare const context: AdapterContext<WeixinSettings>; // what the gateway hands the adapter
 *
 * const adapter = new WeixinAdapter(context);
 * await adapter.connect(); // polling
 * ```
 */
export class WeixinAdapter implements PlatformAdapter {
  /** The platform's name. */
  readonly name = "weixin";
  /** What a Weixin bot can do: {@linkcode WEIXIN_CAPABILITIES}. */
  readonly capabilities = WEIXIN_CAPABILITIES;
  readonly #context: AdapterContext<WeixinSettings>;
  readonly #seen = new SeenIds(2000, 5 * 60_000);
  readonly #batcher: TextBatcher<Held>;
  readonly #breaker: RateLimitBreaker;
  readonly #sender: WeixinSender;
  /** Per chat, the hand-over of its messages in order (media downloads take time). */
  readonly #chains = new Map<string, Promise<void>>();
  /** Newest context token per peer (live), and those whose messages are journaled (saved). */
  readonly #tokens = new ContextTokens();
  /** Typing tickets per peer; one pushed out is fetched again when needed. */
  readonly #tickets = new BoundedMap<string, { ticket: string; until: number }>(MAX_TICKETS);
  /** Per reply part (idempotency key), how many of its messages went out: a retry skips them. */
  #progress = new BoundedMap<string, number>(MAX_PROGRESS);
  /** Saves of `#progress`, one after another. */
  #progressSaving: Promise<void> = Promise.resolve();
  #api: IlinkClient | undefined;
  #poller: WeixinPoller | undefined;
  #accountId = "";
  #stopping = false;

  /** Reads the settings; nothing is claimed or polled until {@linkcode connect}. */
  constructor(context: AdapterContext<WeixinSettings>) {
    this.#context = context;
    const s = context.settings;
    if (s.group_policy && s.group_policy !== "disabled") {
      context.log.warn("iLink bot accounts rarely receive group messages", {
        group_policy: s.group_policy,
      });
    }
    this.#batcher = new TextBatcher<Held>({
      delayMs: s.text_batch_delay_seconds * 1000,
      splitDelayMs: s.text_batch_split_delay_seconds * 1000,
      splitThreshold: 1900,
      merge: mergeHeld,
      deliver: (held) => this.#emit(held),
    });
    this.#breaker = new RateLimitBreaker({
      threshold: s.rate_limit_circuit_threshold,
      windowMs: s.rate_limit_circuit_window_seconds * 1000,
      openMs: s.rate_limit_circuit_open_seconds * 1000,
    });
    this.#sender = new WeixinSender({
      breaker: this.#breaker,
      log: context.log,
      retries: s.send_chunk_retries,
      retryDelayMs: s.send_chunk_retry_delay_seconds * 1000,
      onStaleToken: (token) => this.#forget(token),
    });
  }

  /** Claims the token, restores the cursor and tokens, and starts polling. */
  async connect(): Promise<void> {
    const { settings, stateDir, health, log } = this.#context;
    const accountId = settings.account_id;
    if (!accountId) {
      throw new ConfigError(
        "Weixin needs an account: run `hermes weixin login` and set WEIXIN_ACCOUNT_ID (weixin.account_id) to the id it printed",
      );
    }
    const account = settings.token ? undefined : await readAccount(stateDir, accountId);
    const token = settings.token ?? account?.token;
    if (!token) {
      throw new ConfigError(
        `Weixin has no token for ${accountId}: run \`hermes weixin login\` (or set WEIXIN_TOKEN)`,
      );
    }
    const baseUrl = settings.base_url ?? (account?.base_url || DEFAULT_WEIXIN_BASE_URL);
    this.#stopping = false;
    await this.#poller?.stop();
    try {
      await this.#context.credentialLock(WEIXIN_LOCK_SCOPE, token);
    } catch (error) {
      health.error("credential_in_use", (error as Error).message);
      throw error;
    }
    this.#accountId = accountId;
    this.#api = new IlinkClient({ baseUrl, token, fetch: this.#context.fetch });
    const kept = stateOf(this.#context);
    this.#tokens.load(await readContextTokens(kept, accountId));
    this.#progress = new BoundedMap(MAX_PROGRESS, await readSendProgress(kept, accountId));
    const saved = await readCursor(kept, accountId);
    health.detail("account_id", accountId);
    health.detail("url", baseUrl);
    health.detail("cursor_saved_at", saved?.savedAt ?? null);
    if (this.#stopping) throw new Error("Weixin was disconnected while connecting");
    const poller = new WeixinPoller({
      api: this.#api,
      cursor: saved?.cursor ?? "",
      health,
      log,
      sessionPauseMs: settings.session_expired_pause_seconds * 1000,
      onBatch: (messages) => this.#take(messages),
      saveCursor: (cursor) => this.#save(cursor),
    });
    this.#poller = poller;
    try {
      await poller.start();
    } catch (error) {
      if (error instanceof IlinkError && error.kind === "session_expired") {
        throw new IlinkError(
          "getupdates",
          "session_expired",
          `iLink refused the session of ${accountId} (${error.message}): if it persists, run \`hermes weixin login\` again; it is tried again meanwhile`,
          { ...(error.ret !== undefined ? { ret: error.ret } : {}), cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Stops polling, hands on what is still held and waits until it is
   * journaled and the cursor that covers it saved.
   */
  async disconnect(_reason: string): Promise<void> {
    this.#stopping = true;
    const stopped = this.#poller?.stop();
    await Promise.allSettled([...this.#chains.values()]);
    this.#batcher.flushAll();
    await stopped;
    await this.#progressSaving;
    this.#api = undefined; // a stopped link sends nothing
    this.#context.health.set("stopped");
  }

  /**
   * Sends a reply part: its files (each uploaded to the CDN), then its text
   * as Weixin bubbles, a pause between them. A retry of the part skips what
   * of it already went out; a peer whose session is not ready gets it once
   * they write again.
   */
  async send(
    to: SessionSource,
    message: OutboundMessage,
    context: SendContext,
  ): Promise<SendResult> {
    const api = this.#api;
    if (!api) {
      throw new PlatformError("Weixin is not connected", {
        platform: "weixin",
        code: "not_connected",
        retryable: true,
      });
    }
    const { settings, health } = this.#context;
    const steps: (() => Promise<Record<string, unknown>[]>)[] = [];
    const text = (items: string) => () =>
      Promise.resolve([{ type: 1, text_item: { text: items } }]);
    const files = message.attachments ?? [];
    for (const file of files) {
      // Weixin plays only SILK voice: other audio goes as a file, said so (as the reference does).
      if (file.kind === "voice" && !isSilk(file)) steps.push(text("[voice message as attachment]"));
      steps.push(async () => [await this.#upload(api, to, file)]);
    }
    const mediaSteps = steps.length;
    for (
      const chunk of weixinChunks(message.text, {
        splitMultiline: settings.split_multiline_messages,
        plainText: settings.plain_text,
      })
    ) steps.push(text(chunk));
    if (steps.length === 0) return { status: "sent", messageId: "" }; // nothing to say: no call
    const key = context.idempotencyKey;
    let clientId = clientIdOf(key, 0);
    for (let step = this.#progress.get(key) ?? 0; step < steps.length; step++) {
      if (step > mediaSteps) await sleep(settings.send_chunk_delay_seconds * 1000);
      clientId = clientIdOf(key, step);
      let outcome: SendOutcome;
      try {
        outcome = await this.#sender.send(api, {
          toUserId: to.chatId,
          clientId,
          items: await steps[step]!(),
          ...this.#tokenFor(to, context),
        });
      } catch (error) {
        if (error instanceof IlinkError) {
          health.error(`${error.endpoint}:${error.platformCode}`, error.message);
        }
        const cooldown = this.#breaker.remainingMs();
        health.detail(
          "send_cooldown_until",
          cooldown > 0 ? new Date(Date.now() + cooldown).toISOString() : null,
        );
        throw error;
      }
      health.detail("send_cooldown_until", null);
      if (!outcome.sent) {
        health.error("session_not_ready", outcome.reason);
        return { status: "deferred", until: "next_inbound", reason: outcome.reason };
      }
      health.sendOk();
      // Kept on disk while a part is half sent, so a restart does not send its first bubbles again.
      if (step + 1 < steps.length) this.#saveProgress(key, step + 1);
    }
    if (this.#progress.has(key)) this.#saveProgress(key, undefined);
    return { status: "sent", messageId: clientId };
  }

  /** Shows "typing…" to a peer (a ticket from getconfig, kept 10 minutes); failures are ignored. */
  async typing(to: SessionSource): Promise<void> {
    const api = this.#api;
    if (!api || to.chatType !== "dm") return;
    try {
      let cached = this.#tickets.get(to.chatId);
      if (!cached || cached.until < Date.now()) {
        const token = this.#tokenFor(to, {}).contextToken;
        const answer = await api.post("getconfig", {
          ilink_user_id: to.chatId,
          ...(token ? { context_token: token } : {}),
        }, ILINK_TIMEOUTS.config);
        if (typeof answer.typing_ticket !== "string") return;
        cached = { ticket: answer.typing_ticket, until: Date.now() + TICKET_TTL_MS };
        this.#tickets.set(to.chatId, cached);
      }
      await api.post("sendtyping", {
        ilink_user_id: to.chatId,
        typing_ticket: cached.ticket,
        status: 1,
      }, ILINK_TIMEOUTS.config);
    } catch (error) {
      this.#tickets.delete(to.chatId); // a refused ticket is fetched again next time
      this.#context.log.debug("Weixin typing failed", { error });
    }
  }

  /** The link's health now (poll state, last error, account, cursor and cooldown details). */
  health(): LinkHealth {
    return this.#context.health.snapshot();
  }

  /** The context token to send with: the peer's newest, unless iLink called it stale. */
  #tokenFor(to: SessionSource, context: Partial<SendContext>): { contextToken?: string } {
    const candidates = [
      to.chatType === "dm" ? this.#tokens.of(to.chatId) : undefined,
      replyToken(context.replyContext),
      replyToken(context.inReplyToContext),
    ];
    const token = candidates.find((t) => t !== undefined && !this.#tokens.isStale(t));
    return token ? { contextToken: token } : {};
  }

  #forget(token: string): void {
    this.#tokens.forget(token);
  }

  async #upload(api: IlinkClient, to: SessionSource, file: Attachment) {
    const { settings, fetch } = this.#context;
    return await uploadMedia(file, {
      api,
      cdnBaseUrl: settings.cdn_base_url,
      fetch,
      toUserId: to.chatId,
      allowed: (url) => this.#allowedHosts().includes(hostOf(url)),
    });
  }

  /** The hosts media may come from or go to: Tencent's (exactly), and the configured CDN. */
  #allowedHosts(): string[] {
    return [...WEIXIN_MEDIA_HOSTS, hostOf(this.#context.settings.cdn_base_url)].filter((h) => h);
  }

  /** Records how far a part got (undefined: done) and saves it, one save after another. */
  #saveProgress(key: string, step: number | undefined): void {
    if (step === undefined) this.#progress.delete(key);
    else this.#progress.set(key, step);
    const snapshot = new Map(this.#progress);
    const { log } = this.#context;
    this.#progressSaving = this.#progressSaving
      .then(() => saveSendProgress(stateOf(this.#context), this.#accountId, snapshot))
      .catch((error) => log.warn("Weixin send progress could not be saved", { error }));
  }

  /** A batch from the poll: each message read, deduplicated and handed on in chat order. */
  #take(messages: readonly unknown[]): Promise<void> {
    const { log, health } = this.#context;
    const journaled: Promise<void>[] = [];
    const tokens = new Map<string, string>();
    for (const raw of messages) {
      const message = readInbound(raw, this.#accountId);
      if (!message || (message.text === "" && message.media.length === 0)) {
        log.debug("skipped a Weixin message with no sender or nothing in it (or the bot's own)");
        continue;
      }
      const now = Date.now();
      // Per chat, and as JSON arrays: no id or name can run into the next part.
      const chat = [message.chatType, message.chatId];
      const keys = [JSON.stringify(["id", ...chat, message.messageId])];
      if (!this.#seen.add(keys[0]!, now)) {
        log.debug("skipped a repeated Weixin message", { message_id: message.messageId });
        continue;
      }
      if (message.text !== "") {
        const digest = createHash("md5").update(message.text).digest("hex");
        keys.push(JSON.stringify(["content", ...chat, message.from, digest]));
        if (!this.#seen.add(keys[1]!, now)) {
          this.#seen.forget(keys[0]!);
          log.debug("skipped a Weixin message repeated under a new id", {
            message_id: message.messageId,
          });
          continue;
        }
      }
      health.inbound(message.chatType);
      if (message.contextToken) {
        this.#tokens.received(message.from, message.contextToken);
        tokens.set(message.from, message.contextToken);
      }
      // Not kept: it must not read as a repeat when the batch is polled again.
      journaled.push(
        this.#handOn(message).catch((error) => {
          for (const key of keys) this.#seen.forget(key);
          throw error;
        }),
      );
    }
    return Promise.all(journaled).then(() => this.#tokens.journaled(tokens));
  }

  /** Hands one message on after the chat's earlier ones; resolves once it is journaled. */
  #handOn(message: WeixinInbound): Promise<void> {
    const chat = message.chatId;
    const before = this.#chains.get(chat) ?? Promise.resolve();
    let journaled!: Promise<void>;
    const handed = new Promise<void>((resolveHanded) => {
      journaled = new Promise<void>((resolve, reject) => {
        void before.then(async () => {
          const event = await this.#event(message);
          const held: Held = {
            event,
            settled: [(error) => (error === undefined ? resolve() : reject(error))],
          };
          const key = `${chat}\u0000${message.from}`;
          if (this.#stopping || event.attachments?.length || event.text.startsWith("/")) {
            this.#batcher.flush(key);
            this.#emit(held);
          } else {
            this.#batcher.add(key, held, event.text);
          }
        }).catch(reject).finally(resolveHanded);
      });
    });
    this.#chains.set(chat, handed);
    void handed.then(() => {
      if (this.#chains.get(chat) === handed) this.#chains.delete(chat);
    });
    return journaled;
  }

  async #event(message: WeixinInbound): Promise<MessageEvent> {
    const receivedAt = this.#context.now().toISOString();
    return {
      messageId: message.messageId,
      source: {
        platform: "weixin",
        chatType: message.chatType,
        chatId: message.chatId,
        userId: message.from,
      },
      text: message.text,
      receivedAt,
      senderName: message.from,
      ...(message.contextToken
        ? { replyContext: { context_token: message.contextToken, at: receivedAt } }
        : {}),
      attachments: await this.#files(message),
    };
  }

  /** The files a message refers to, fetched and decrypted; one that cannot be is logged and left out. */
  async #files(message: WeixinInbound): Promise<Attachment[]> {
    const { media, settings, log } = this.#context;
    const files: Attachment[] = [];
    for (const ref of message.media) {
      const url = downloadUrl(settings.cdn_base_url, ref.media);
      if (!url) continue;
      try {
        const keyText = ref.hexKey ?? ref.media.aes_key;
        const key = keyText ? mediaKey(keyText) : undefined;
        files.push(
          await media.download(url, {
            allowHosts: this.#allowedHosts(),
            allowAddresses: settings.media_allow_addresses,
            ...(ref.name ? { name: ref.name } : {}),
            ...(key ? { decode: (bytes: Uint8Array) => decryptEcb(bytes, key) } : {}),
          }),
        );
      } catch (error) {
        log.warn("left out a file of a Weixin message", {
          message_id: message.messageId,
          kind: ref.kind,
          error,
        });
      }
    }
    return files;
  }

  #emit(held: Held): void {
    this.#context.emit(held.event).then(
      () => held.settled.forEach((settle) => settle()),
      (error) => {
        this.#context.log.error("a Weixin message could not be journaled", {
          message_id: held.event.messageId,
          error,
        });
        held.settled.forEach((settle) => settle(error));
      },
    );
  }

  /** Saves the tokens (when they changed), then the cursor: both cover only journaled messages. */
  async #save(cursor: string): Promise<void> {
    const tokens = this.#tokens.takeChanges();
    if (tokens) {
      try {
        await saveContextTokens(stateOf(this.#context), this.#accountId, tokens);
      } catch (error) {
        this.#tokens.saveFailed();
        throw error;
      }
    }
    await saveCursor(stateOf(this.#context), this.#accountId, cursor);
  }
}

/** Pieces of one long message, joined: the first id, the newest reply context, everyone waiting. */
function mergeHeld(pieces: readonly Held[]): Held {
  const first = pieces[0]!.event;
  const last = pieces[pieces.length - 1]!.event;
  return {
    event: {
      ...first,
      text: pieces.map((p) => p.event.text).join("\n"),
      ...(last.replyContext !== undefined ? { replyContext: last.replyContext } : {}),
      attachments: pieces.flatMap((p) => p.event.attachments ?? []),
    },
    settled: pieces.flatMap((p) => p.settled),
  };
}

/** The client_id of one message of a reply part: the same on every try and after a restart. */
function clientIdOf(idempotencyKey: string, step: number): string {
  const digest = createHash("sha256").update(`${idempotencyKey}\u0000${step}`).digest("hex");
  return `hermes-weixin-${digest.slice(0, 32)}`;
}

/** Sets `key` in a map kept to the newest 1,000 keys. */

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, "").toLowerCase();
  } catch {
    return "";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
