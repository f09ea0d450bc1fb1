/**
 * The Telegram long-poll loop. Telegram deletes an update once a getUpdates
 * passes a higher offset, so the next poll goes out only after every update
 * of the batch is journaled (a crash before that gets the batch again, and
 * the journal drops what it already holds); the offset is saved after each
 * batch, so a restart resumes where the journal ends. A 409 means another
 * poller (or a webhook) holds the updates: the link says `superseded`,
 * naming the cause, and polls again no sooner than 10 s later, never
 * dropping the backlog. A poll unanswered past its timeout plus the stall
 * time is abandoned: the link is `degraded`, never healthy.
 *
 * @module
 */

import { backoffDelay } from "../../util/backoff.ts";
import type { Logger } from "../../util/log.ts";
import type { LinkHealthTracker } from "../health.ts";
import type { TelegramApi } from "./api.ts";
import { TelegramError } from "./errors.ts";
import type { TgUpdate } from "./inbound.ts";

/** The fewest ms between two polls while another poller holds the updates. */
export const CONFLICT_WAIT_MS = 10_000;
/** How long a poll may be held before the link counts as listening. */
const HELD_MS = 1_500;
/** How long to wait for the rest of an album or a split text (Telegram's clients send it at once). */
const CONTINUATION_WAIT_MS = 800;
/** Polls for more pieces of one message, at most. */
const CONTINUATION_POLLS = 3;
/** The updates hermes asks for, polling or by webhook (my_chat_member says when a user blocks the bot). */
export const ALLOWED_UPDATES = ["message", "edited_message", "my_chat_member"];

/** What a {@linkcode TelegramPoller} needs. */
export interface TelegramPollerOptions {
  readonly api: TelegramApi;
  /** The first update to ask for (the saved offset), undefined for Telegram's oldest. */
  readonly offset: number | undefined;
  /** How long one getUpdates waits for updates, in seconds (≤ 50). */
  readonly pollTimeoutS: number;
  /** How long past its timeout an unanswered poll is given before it counts as a stall. */
  readonly stallMs: number;
  readonly health: LinkHealthTracker;
  readonly log: Logger;
  /** Takes a batch in order; resolves once each update is journaled (or skipped). */
  readonly onBatch: (updates: readonly TgUpdate[]) => Promise<void>;
  /**
   * Whether the last of `updates` may be followed by pieces of the same
   * message (then the poll waits a moment for them before handing on).
   */
  readonly continues?: (updates: readonly TgUpdate[]) => boolean;
  /** Saves the offset after a batch (the next update to ask for). */
  readonly saveOffset: (offset: number) => Promise<void>;
  /** Told when Telegram refuses the token (401): polling stops. */
  readonly onUnauthorized: (error: TelegramError) => void;
  /** Random number in [0, 1) for backoff jitter (tests fix it). */
  readonly random?: () => number;
}

/**
 * Polls one bot.
 *
 * @example
 * ```ts
 * import type { Logger } from "../../util/log.ts";
 * import { LinkHealthTracker } from "../health.ts";
 * import { TelegramApi } from "./api.ts";
 * declare const log: Logger;
 *
 * const poller = new TelegramPoller({
 *   api: new TelegramApi({ token: "123456:ABC-secret" }),
 *   offset: undefined,
 *   pollTimeoutS: 30,
 *   stallMs: 120_000,
 *   health: new LinkHealthTracker(),
 *   log,
 *   onBatch: async (updates) => console.log(updates.length), // journal them here
 *   saveOffset: async (offset) => console.log(offset),
 *   onUnauthorized: (error) => console.error(error.message),
 * });
 * poller.start();
 * await poller.stop();
 * ```
 */
export class TelegramPoller {
  readonly #o: TelegramPollerOptions;
  readonly #stopped = new AbortController();
  #offset: number | undefined;
  #loop: Promise<void> = Promise.resolve();
  /** 409s since the last answered poll. */
  #conflicts = 0;
  /** 409s in all, and stalls in all (for status). */
  #counts = { conflicts: 0, stalls: 0 };

  /** Polls nothing until {@linkcode start}. */
  constructor(options: TelegramPollerOptions) {
    this.#o = options;
    this.#offset = options.offset;
  }

  /** The next update id asked for. */
  get offset(): number | undefined {
    return this.#offset;
  }

  /** Starts the loop. */
  start(): void {
    this.#loop = this.#run();
  }

  /** Stops polling; resolves once the batch under way is journaled and its offset saved. */
  async stop(): Promise<void> {
    this.#stopped.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { health, log } = this.#o;
    let failures = 0;
    let batchFailures = 0;
    while (!this.#stopped.signal.aborted) {
      let updates: TgUpdate[];
      try {
        updates = await this.#poll();
      } catch (error) {
        if (this.#stopped.signal.aborted) return;
        const wait = this.#failed(error, failures++);
        if (wait === undefined) return;
        await this.#sleep(wait);
        continue;
      }
      failures = 0;
      this.#conflicts = 0;
      if (updates.length === 0) {
        if (health.state !== "subscribed" && health.state !== "receiving") health.set("subscribed");
        continue;
      }
      try {
        await this.#o.onBatch(updates);
      } catch (error) {
        // Nothing of this batch is confirmed: the next poll asks for it again, later each time.
        health.error("journal_failed", `a batch could not be journaled: ${error}`);
        health.set(batchFailures >= 2 ? "retrying" : "degraded");
        log.error("a Telegram batch could not be journaled; polling it again", { error });
        await this.#sleep(backoffDelay(batchFailures++, { baseMs: 2_000, maxMs: 60_000 }));
        continue;
      }
      batchFailures = 0;
      if (health.state !== "subscribed" && health.state !== "receiving") health.set("subscribed");
      const next = updates.at(-1)!.update_id + 1;
      this.#offset = next;
      try {
        await this.#o.saveOffset(next);
        health.detail("last_update_id", next - 1);
      } catch (error) {
        // The journal still drops a repeat: a lost save costs a replay, never a message.
        log.warn("the Telegram offset could not be saved; the next batch tries again", { error });
      }
    }
  }

  /**
   * One getUpdates; while the answer ends with a piece more may follow (an
   * album, a long text the client split), it is asked again with the same
   * offset, which confirms nothing, after a pause: the rest arrives with it.
   */
  async #poll(): Promise<TgUpdate[]> {
    let updates = await this.#get(this.#o.pollTimeoutS);
    for (let more = 0; more < CONTINUATION_POLLS && this.#o.continues?.(updates); more++) {
      await this.#sleep(CONTINUATION_WAIT_MS);
      if (this.#stopped.signal.aborted) break;
      const again = await this.#get(0);
      // The same offset answers what came before and what came since.
      if (again.length <= updates.length || again[0]?.update_id !== updates[0]?.update_id) break;
      updates = again;
    }
    return updates;
  }

  async #get(timeout: number): Promise<TgUpdate[]> {
    // A poll Telegram holds is a link that listens: no other poller took it away.
    const health = this.#o.health;
    const held = setTimeout(() => {
      if (health.state === "connecting") health.set("subscribed");
    }, HELD_MS);
    try {
      const updates = await this.#o.api.call<TgUpdate[]>("getUpdates", {
        offset: this.#offset,
        timeout,
        allowed_updates: ALLOWED_UPDATES,
      }, { signal: this.#stopped.signal, timeoutMs: timeout * 1000 + this.#o.stallMs });
      return Array.isArray(updates) ? updates : [];
    } catch (error) {
      if (error instanceof TelegramError && error.delivery === "unknown" && error.errorCode === 0) {
        this.#counts.stalls++;
        this.#o.health.detail("stalls", this.#counts.stalls);
      }
      throw error;
    } finally {
      clearTimeout(held);
    }
  }

  /** Records a failed poll; answers how long to wait, or undefined to stop polling. */
  #failed(error: unknown, failures: number): number | undefined {
    const { health, log } = this.#o;
    const why = error instanceof Error ? error.message : String(error);
    if (error instanceof TelegramError && error.action === "unauthorized") {
      health.error("401", `${why}: check TELEGRAM_BOT_TOKEN`);
      health.set("fatal");
      this.#o.onUnauthorized(error);
      return undefined;
    }
    if (error instanceof TelegramError && error.action === "conflict") {
      this.#conflicts++;
      this.#counts.conflicts++;
      health.detail("conflicts", this.#counts.conflicts);
      health.error(
        "409",
        `${error.description} (another poller or a webhook holds this bot's updates)`,
      );
      health.set("superseded");
      // 10 s for the first minute (the other one may be a gateway on its way out), then up to 30 s.
      const wait = CONFLICT_WAIT_MS * Math.min(Math.ceil(this.#conflicts / 6), 3);
      log.warn("Another poller holds this bot's updates; waiting before polling again", {
        wait_ms: wait,
        conflicts: this.#conflicts,
      });
      return wait;
    }
    const stalled = error instanceof TelegramError && error.delivery === "unknown";
    health.error(
      stalled
        ? "poll_stalled"
        : error instanceof TelegramError
        ? error.platformCode
        : "poll_failed",
      why,
    );
    health.set(failures >= 2 ? "retrying" : "degraded");
    const wait = error instanceof TelegramError && error.retryAfterMs !== undefined
      ? error.retryAfterMs
      : backoffDelay(failures, { baseMs: 2_000, maxMs: 30_000, random: this.#o.random });
    log.warn("Telegram poll failed; trying again", { wait_ms: wait, error: why });
    return wait;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#stopped.signal;
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
