/**
 * The outbox: sends the reply parts the store holds, one chat at a time in
 * order, and moves each through its states. A platform's "not now"
 * (`deferred`) holds the part, and the chat's later parts behind it, until
 * the chat's next inbound message (or a time); a retryable refusal or a
 * network error is retried with backoff and jitter, never sooner than the
 * platform's `retryAfterMs`, and slows only that chat; a permanent refusal
 * or a passed deadline makes the part `undeliverable`, logged with the
 * platform's code. Every try of a part carries the same idempotency key.
 *
 * @module
 */

import { PlatformError } from "../errors.ts";
import type { PlatformAdapter } from "../platforms/adapter.ts";
import type { OutboundMessage, SendContext, SendResult } from "../platforms/event.ts";
import type { OutboxCounts, OutboxPart, StateStore } from "../storage/state_store.ts";
import { backoffDelay, type BackoffOptions } from "../util/backoff.ts";
import type { Logger } from "../util/log.ts";
import type { RateBudgets } from "./rate_budget.ts";

/** What the outbox needs. */
export interface OutboxOptions {
  readonly store: StateStore;
  /** The adapter of a platform, if it is enabled. */
  readonly adapter: (platform: string) => PlatformAdapter | undefined;
  /** Whether a platform's link is up now (parts wait while it is not). */
  readonly isConnected: (platform: string) => boolean;
  readonly log: Logger;
  /** Called when a part of the reply to entry `inboundId` reached an end (sent, deferred, given up). */
  readonly onPartDone?: (inboundId: number) => void;
  /**
   * Registers in-flight work, so a drain waits for it: the outbox registers
   * each stretch of time it is busy sending (not its waits for retries).
   */
  readonly track?: <T>(label: string, work: Promise<T>) => Promise<T>;
  /** The platforms' send budgets (shared with the previews). */
  readonly budgets?: RateBudgets;
  /** Retry delays (default 1 s doubling up to 5 min, with jitter). */
  readonly backoff?: BackoffOptions;
  readonly now?: () => number;
}

const NO_PARTS: OutboxCounts = { queued: 0, sending: 0, deferred: 0, failed: 0, undeliverable: 0 };

/**
 * The gateway's outbox.
 *
 * @example
 * ```ts
 * import type { PlatformLinks } from "../platforms/links.ts";
 * import type { InboundEntry, StateStore } from "../storage/state_store.ts";
 * import type { Logger } from "../util/log.ts";
 * declare const store: StateStore, links: PlatformLinks, log: Logger, entry: InboundEntry;
 * const outbox = new Outbox({
 *   store,
 *   adapter: (p) => links.get(p),
 *   isConnected: (p) => links.isConnected(p),
 *   log,
 * });
 * await store.completeTurn(entry, {
 *   sessionId: 1,
 *   parts: [{ text: "Hello" }],
 *   deadline: "2026-12-02T05:00:00.000Z",
 *   state: "done",
 *   outcome: "replied",
 * });
 * outbox.kick(); // sends "Hello", retrying as the platform asks
 * ```
 */
export class Outbox {
  readonly #options: OutboxOptions;
  readonly #now: () => number;
  /** Chats being worked on now. */
  readonly #busy = new Set<string>();
  /** Chats asked to look again while being worked on. */
  readonly #again = new Set<string>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Resolves the tracked work of the current busy stretch, once no chat is worked on. */
  #idle: (() => void) | undefined;
  /** Sends in flight: a stop waits for them, so no part is left half sent. */
  readonly #inFlight = new Set<Promise<boolean>>();
  /** Who waits for the next try of a part to end, by part id ({@linkcode Outbox.whenTried}). */
  readonly #watchers = new Map<number, Set<(tried: boolean) => void>>();
  #counts: OutboxCounts = NO_PARTS;
  #countsTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(options: OutboxOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Whether the chat has parts going out or waiting (a retry, a deferral, a
   * link, its budget): a new reply's previews then wait, so they never show
   * between the parts of an earlier reply.
   */
  holds(chatKey: string): boolean {
    return this.#busy.has(chatKey) || this.#timers.has(chatKey);
  }

  /** Parts by state, as of the last change (for `gateway status`). */
  get counts(): OutboxCounts {
    return this.#counts;
  }

  /**
   * Looks for parts to send now: those of `chatKey` (a turn of that chat
   * completed, the chat spoke), or of every chat (at start, a link came up).
   */
  kick(chatKey?: string): void {
    if (this.#stopped) return;
    if (chatKey !== undefined) return this.#work(chatKey);
    void this.#scan().catch((error) => this.#options.log.error("outbox scan failed", { error }));
  }

  /**
   * Resolves `true` once the next try of part `partId` has ended (it was
   * sent, deferred, failed with a retry due, or given up), or `false` when
   * `timeoutMs` passed first or the outbox stopped. Call it before the kick
   * that may try the part.
   *
   * @example
   * ```ts
   * import type { OutboxPart, StateStore } from "../storage/state_store.ts";
   * declare const outbox: Outbox, store: StateStore, part: OutboxPart;
   * const tried = outbox.whenTried(part.id, 10_000);
   * outbox.kick(part.chatKey);
   * if (await tried) console.log((await store.partsOf(part.inboundId))[0]?.state);
   * ```
   */
  whenTried(partId: number, timeoutMs: number): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(false);
    const { promise, resolve } = Promise.withResolvers<boolean>();
    let watchers = this.#watchers.get(partId);
    if (!watchers) this.#watchers.set(partId, watchers = new Set());
    const settle = (tried: boolean) => {
      clearTimeout(timer);
      watchers.delete(settle);
      if (watchers.size === 0 && this.#watchers.get(partId) === watchers) {
        this.#watchers.delete(partId);
      }
      resolve(tried);
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    watchers.add(settle);
    return promise;
  }

  /**
   * Stops sending: no new try starts, timers are cleared, and the tries in
   * flight are waited for (at most `waitMs`); what is left stays in the
   * store for the next gateway.
   */
  async stop(waitMs = 5_000): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#countsTimer);
    this.#countsTimer = undefined;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#idle?.();
    this.#idle = undefined;
    for (const watchers of [...this.#watchers.values()]) {
      for (const settle of [...watchers]) settle(false);
    }
    if (this.#inFlight.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#inFlight]),
      new Promise((resolve) => timer = setTimeout(resolve, waitMs)),
    ]);
    clearTimeout(timer);
  }

  async #scan(): Promise<void> {
    const open = await this.#options.store.openParts();
    for (const chat of new Set(open.map((p) => p.chatKey))) this.#work(chat);
    await this.#refreshCounts();
  }

  #work(chat: string): void {
    if (this.#stopped) return;
    if (this.#busy.has(chat)) {
      this.#again.add(chat);
      return;
    }
    this.#busy.add(chat);
    if (!this.#idle) {
      const idle = Promise.withResolvers<void>();
      this.#idle = idle.resolve;
      void this.#options.track?.("outbox", idle.promise);
    }
    void this.#drainChat(chat)
      .catch((error) => {
        // The store failed (busy, closing): look again later rather than leave the chat idle.
        this.#options.log.error("outbox failed; trying the chat again shortly", { chat, error });
        this.#retryAt(chat, this.#now() + backoffDelay(2, this.#backoff()));
      })
      .finally(() => {
        this.#busy.delete(chat);
        if (this.#again.delete(chat)) this.#work(chat);
        if (this.#busy.size === 0) {
          this.#idle?.();
          this.#idle = undefined;
        }
      });
  }

  /** Sends the chat's parts in order until one must wait. */
  async #drainChat(chat: string): Promise<void> {
    const { store, log } = this.#options;
    while (!this.#stopped) {
      const part = await store.nextPart(chat);
      if (!part) {
        // Nothing left: no timer for this chat (it would hold the chat's previews back).
        clearTimeout(this.#timers.get(chat));
        this.#timers.delete(chat);
        break;
      }
      const now = this.#now();
      if (Date.parse(part.deadline) <= now) {
        await this.#giveUp(part, "deadline", `not delivered by ${part.deadline}`);
        continue;
      }
      const deadline = Date.parse(part.deadline);
      if (part.state === "deferred" && part.waitingForInbound) {
        this.#retryAt(chat, deadline); // held until the chat speaks, or given up at the deadline
        break;
      }
      const due = part.notBefore ? Date.parse(part.notBefore) : 0;
      if (due > now) {
        this.#retryAt(chat, due);
        break;
      }
      const adapter = this.#options.adapter(part.platform);
      if (!adapter || !this.#options.isConnected(part.platform)) {
        log.debug("outbox waits for the platform's link", { platform: part.platform, chat });
        this.#retryAt(chat, deadline); // kicked again when the link comes up
        break;
      }
      const budgetWait = this.#options.budgets?.waitMs(adapter, chat) ?? 0;
      if (budgetWait > 0) {
        this.#retryAt(chat, now + budgetWait);
        break;
      }
      this.#options.budgets?.take(adapter, chat);
      const send = this.#send(part, adapter);
      this.#inFlight.add(send);
      const next = await send.finally(() => this.#inFlight.delete(send));
      this.#countsLater();
      if (!next) break;
    }
  }

  /** Refreshes the counts soon: at most once per 250 ms, however many parts go out. */
  #countsLater(): void {
    if (this.#countsTimer !== undefined || this.#stopped) return;
    this.#countsTimer = setTimeout(() => {
      this.#countsTimer = undefined;
      void this.#refreshCounts();
    }, 250);
  }

  /** One try of `part`; resolves whether the chat's next part may go now. */
  async #send(part: OutboxPart, adapter: PlatformAdapter): Promise<boolean> {
    const { store, log } = this.#options;
    const attempt = await store.startSending(part.id);
    const context: SendContext = {
      idempotencyKey: part.idempotencyKey,
      attempt,
      ...await replyContexts(store, part),
      inReplyTo: part.replyTo ?? undefined,
      ...(part.editOf && part.shownText !== null ? { shownText: part.shownText } : {}),
    };
    const message: OutboundMessage = {
      text: part.text,
      format: part.format,
      replyTo: part.replyTo ?? undefined,
      final: true,
      ...(part.attachments.length ? { attachments: part.attachments } : {}),
    };
    let result: SendResult | { messageId?: string } | undefined;
    try {
      result = part.editOf && adapter.edit
        ? await this.#editOrSend(part, adapter, message, context)
        : await adapter.send(part.target, message, context);
    } catch (error) {
      return await this.#failed(part, attempt, error);
    }
    if (result && "status" in result && result.status === "deferred") {
      // A time in the past or no time at all is not a reason to try again at once.
      const at = result.until === "next_inbound" ? NaN : Date.parse(result.until);
      const until = result.until === "next_inbound" ? "next_inbound" : new Date(
        Math.max(
          Number.isFinite(at) ? at : 0,
          this.#now() + backoffDelay(attempt - 1, this.#backoff()),
        ),
      ).toISOString();
      result = { ...result, until };
      await store.partDeferred(part.id, { until: result.until, reason: result.reason });
      log.info("the platform deferred a reply part", {
        platform: part.platform,
        key: part.idempotencyKey,
        until: result.until,
        reason: result.reason,
      });
      // Looked at again at its time, or at the deadline when it waits for the chat to speak.
      this.#retryAt(
        part.chatKey,
        Date.parse(result.until === "next_inbound" ? part.deadline : result.until),
      );
      this.#options.onPartDone?.(part.inboundId);
      this.#tried(part.id);
      return false;
    }
    // A plugin of the first contract answers { messageId } without a status.
    const messageId = (result as { messageId?: string } | undefined)?.messageId ?? part.editOf ??
      "";
    await store.partSent(part.id, messageId);
    this.#options.onPartDone?.(part.inboundId);
    this.#tried(part.id);
    return true;
  }

  async #failed(part: OutboxPart, attempt: number, error: unknown): Promise<boolean> {
    const { store, log } = this.#options;
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof PlatformError && !error.retryable) {
      await this.#giveUp(part, error.platformCode, message);
      return true; // the chat's later parts do not wait for a part that will never go
    }
    const code = error instanceof PlatformError ? error.platformCode : "network";
    const retryAfter = error instanceof PlatformError ? error.retryAfterMs ?? 0 : 0;
    const adapter = this.#options.adapter(part.platform);
    if (retryAfter > 0 && adapter) {
      this.#options.budgets?.slowDown(adapter, part.chatKey, retryAfter); // previews wait too
    }
    // The link went down under the send: the part waits for the link, not for a backoff that
    // grows with every drop (it goes the moment the link is back and the outbox is kicked).
    const linkDown = retryAfter === 0 && !this.#options.isConnected(part.platform);
    const delay = linkDown ? 0 : Math.max(backoffDelay(attempt - 1, this.#backoff()), retryAfter);
    const at = this.#now() + delay;
    if (at >= Date.parse(part.deadline)) {
      await this.#giveUp(part, code, `${message} (and the deadline ${part.deadline} comes first)`);
      return true;
    }
    await store.partFailed(part.id, { code, message, notBefore: new Date(at).toISOString() });
    log.info(
      linkDown
        ? "a reply part failed; retrying when the link is back"
        : "a reply part failed; retrying",
      {
        platform: part.platform,
        key: part.idempotencyKey,
        attempt,
        code,
        retry_in_ms: delay,
        error: message,
      },
    );
    this.#retryAt(part.chatKey, linkDown ? Date.parse(part.deadline) : at);
    this.#tried(part.id);
    return false;
  }

  #backoff(): BackoffOptions {
    return { baseMs: 1_000, maxMs: 300_000, ...this.#options.backoff };
  }

  /**
   * A final part edited into its preview; when the platform refuses that
   * edit for good (the preview is gone, too old to edit), it is sent as a
   * new message instead, so the answer is never lost to a stale preview.
   */
  async #editOrSend(
    part: OutboxPart,
    adapter: PlatformAdapter,
    message: OutboundMessage,
    context: SendContext,
  ): Promise<SendResult> {
    try {
      return await adapter.edit!(part.target, part.editOf!, message, context);
    } catch (error) {
      if (!(error instanceof PlatformError) || error.retryable) throw error;
      this.#options.log.info("the platform refused to edit a preview; sending the part anew", {
        platform: part.platform,
        key: part.idempotencyKey,
        code: error.platformCode,
      });
      const { shownText: _shown, ...fresh } = context;
      return await adapter.send(part.target, message, fresh);
    }
  }

  async #giveUp(part: OutboxPart, code: string, message: string): Promise<void> {
    await this.#options.store.partUndeliverable(part.id, { code, message });
    this.#options.log.warn("a reply part is undeliverable", {
      platform: part.platform,
      chat: part.target.chatId,
      key: part.idempotencyKey,
      code,
      error: message,
    });
    this.#options.onPartDone?.(part.inboundId);
    this.#tried(part.id);
  }

  /** A try of part `id` ended: its watchers hear so. */
  #tried(id: number): void {
    for (const settle of [...this.#watchers.get(id) ?? []]) settle(true);
  }

  #retryAt(chat: string, at: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timers.get(chat));
    // Timers are capped at an hour: a far deadline is looked at again, never overflowed.
    const delay = Math.min(Math.max(0, at - this.#now()), 3_600_000);
    this.#timers.set(
      chat,
      setTimeout(() => {
        this.#timers.delete(chat);
        this.#work(chat);
      }, Number.isFinite(delay) ? delay : 1_000),
    );
  }

  async #refreshCounts(): Promise<void> {
    try {
      this.#counts = await this.#options.store.outboxCounts();
    } catch {
      // the store is closing; the last counts stand
    }
  }
}

/** The reply contexts a part is sent with: the chat's newest, and its own message's besides. */
async function replyContexts(
  store: StateStore,
  part: OutboxPart,
): Promise<Pick<SendContext, "replyContext" | "inReplyToContext">> {
  const own = part.replyTo !== null ? await store.inboundReplyContext(part.inboundId) : undefined;
  const latest = await store.replyContext(part.chatKey);
  if (latest === undefined) return own === undefined ? {} : { replyContext: own };
  const differs = own !== undefined && JSON.stringify(latest) !== JSON.stringify(own);
  return { replyContext: latest, ...(differs ? { inReplyToContext: own } : {}) };
}
