/**
 * The Weixin long-poll loop: `getupdates` with the cursor, each batch handed
 * on, and the cursor saved only once every message of its batch is
 * journaled, so a crash replays (the journal drops what it already holds)
 * and never skips; a batch that could not be journaled is polled again from
 * the saved cursor. An expired session (−14) pauses polling; other failures
 * wait 2 s, and after 3 in a row 30 s. A poll iLink does not answer in time
 * is an empty answer, but the link then reads `degraded` (`retrying` after
 * 3 in a row), never healthy.
 *
 * @module
 */

import type { Logger } from "../../util/log.ts";
import type { LinkHealthTracker } from "../health.ts";
import { ILINK_TIMEOUTS, type IlinkClient, IlinkError } from "./api.ts";

/** Failures (or unanswered polls) in a row that make it worse. */
const STREAK = 3;
/** How long a poll may hold before it counts as a link that listens. */
const HELD_MS = 1_500;
/** How much longer than iLink's own long-poll time we wait for its answer. */
const POLL_MARGIN_MS = 5_000;

/** What a {@linkcode WeixinPoller} needs. */
export interface PollerOptions {
  /** The account's client (`getupdates` goes through it). */
  readonly api: IlinkClient;
  /** The saved cursor ("" for none). */
  readonly cursor: string;
  /** The link health the poller keeps (`subscribed`, `degraded`, `retrying`, the last error). */
  readonly health: LinkHealthTracker;
  /** Where failures and skipped saves are logged. */
  readonly log: Logger;
  /** Pause after an expired session. */
  readonly sessionPauseMs: number;
  /** Wait after a failure, in ms (default 2 s). */
  readonly failureDelayMs?: number;
  /** Wait after 3 failures in a row, in ms (default 30 s). */
  readonly streakDelayMs?: number;
  /**
   * Takes a batch; resolves once each message is journaled (or dropped),
   * rejects when one could not be (the batch is then polled again).
   */
  readonly onBatch: (messages: readonly unknown[]) => Promise<void>;
  /** Saves a cursor; called in order, each after its batch was taken. */
  readonly saveCursor: (cursor: string) => Promise<void>;
}

/**
 * Polls one account.
 *
 * @example
 * ```ts
 * import type { Logger } from "../../util/log.ts";
 * import { LinkHealthTracker } from "../health.ts";
 * import { IlinkClient } from "./api.ts";
 * declare const log: Logger;
 *
 * const poller = new WeixinPoller({
 *   api: new IlinkClient({ baseUrl: "https://ilinkai.weixin.qq.com", token: "bot-token" }),
 *   cursor: "",
 *   health: new LinkHealthTracker(),
 *   log,
 *   sessionPauseMs: 600_000,
 *   onBatch: async (messages) => console.log(messages.length), // journal them here
 *   saveCursor: async (cursor) => console.log(cursor),
 * });
 * await poller.start(); // the first poll was answered, or is being held
 * await poller.stop(); // the last cursor is saved
 * ```
 */
export class WeixinPoller {
  readonly #o: PollerOptions;
  readonly #abort = new AbortController();
  #cursor: string;
  #savedCursor: string;
  #pollTimeoutMs: number = ILINK_TIMEOUTS.poll;
  #saving: Promise<void> = Promise.resolve();
  /** Bumped when a batch failed: cursors polled before that are not saved. */
  #epoch = 0;
  /** A batch failed: poll again from the saved cursor, after a pause. */
  #rewind = false;
  /** Polls in a row that got no answer in time. */
  #silent = 0;
  #loop: Promise<void> = Promise.resolve();

  /** Polls nothing until {@linkcode start}. */
  constructor(options: PollerOptions) {
    this.#o = options;
    this.#cursor = options.cursor;
    this.#savedCursor = options.cursor;
  }

  /**
   * Makes the first poll and starts the loop; resolves once iLink answered
   * it or held it (a long poll waiting for messages), or said the session
   * expired (the loop then pauses); rejects when the first poll failed
   * otherwise.
   */
  async start(): Promise<void> {
    const first = this.#poll();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const held = new Promise<"held">((resolve) =>
      timer = setTimeout(() => resolve("held"), HELD_MS)
    );
    try {
      const outcome = await Promise.race([first.then(() => "answered" as const), held]);
      const pending = outcome === "held"
        ? first.then(() => undefined, (error: unknown) => error)
        : Promise.resolve(undefined);
      this.#loop = pending.then((error) => this.#run(error));
    } catch (error) {
      if (!(error instanceof IlinkError) || error.kind !== "session_expired") throw error;
      this.#loop = this.#run(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops polling and waits until the cursor of everything taken is saved. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    await this.#saving;
  }

  async #run(pending?: unknown): Promise<void> {
    let failures = 0;
    let error = pending;
    while (!this.#abort.signal.aborted) {
      if (error === undefined && this.#rewind) {
        this.#rewind = false;
        this.#cursor = this.#savedCursor;
        await this.#sleep(this.#o.failureDelayMs ?? 2_000);
        continue;
      }
      if (error === undefined) {
        try {
          await this.#poll();
          failures = 0;
          continue;
        } catch (caught) {
          error = caught;
        }
      }
      if (this.#abort.signal.aborted) return;
      const why = error instanceof Error ? error.message : String(error);
      const expired = error instanceof IlinkError && error.kind === "session_expired";
      const code = error instanceof IlinkError ? String(error.ret ?? error.kind) : "poll_failed";
      error = undefined;
      failures++;
      const delay = expired
        ? this.#o.sessionPauseMs
        : failures >= STREAK
        ? this.#o.streakDelayMs ?? 30_000
        : this.#o.failureDelayMs ?? 2_000;
      if (expired || failures >= STREAK) failures = 0;
      const span = delay >= 60_000 && delay % 60_000 === 0
        ? `${delay / 60_000} minutes`
        : `${delay / 1000} s`;
      const until = new Date(Date.now() + delay).toISOString();
      this.#o.health.error(
        expired ? "session_expired" : code,
        expired
          ? `${why}: polling pauses for ${span}; if it persists, run \`hermes weixin login\` again`
          : why,
      );
      this.#o.health.set("retrying");
      this.#o.health.detail("poll_paused_until", until);
      if (expired) this.#o.log.warn(`Session expired; pausing for ${span}`, { until, error: why });
      else this.#o.log.warn("Weixin poll failed; trying again", { wait_ms: delay, error: why });
      await this.#sleep(delay);
      this.#o.health.detail("poll_paused_until", null);
    }
  }

  /** One getupdates: the batch handed on, its cursor queued for saving. */
  async #poll(): Promise<void> {
    const health = this.#o.health;
    const epoch = this.#epoch; // a batch failing while this poll is out voids its cursor
    const up = () => {
      if (health.state !== "subscribed" && health.state !== "receiving") health.set("subscribed");
    };
    // A poll iLink holds is a link that listens (unless the last ones were never answered).
    const held = setTimeout(() => this.#silent === 0 && up(), HELD_MS);
    const timeoutMs = this.#pollTimeoutMs + POLL_MARGIN_MS;
    let answer: Record<string, unknown>;
    try {
      answer = await this.#o.api.post(
        "getupdates",
        { get_updates_buf: this.#cursor },
        timeoutMs,
        this.#abort.signal,
      );
    } catch (error) {
      if (!(error instanceof IlinkError) || !error.timedOut) throw error;
      // Nothing came, but iLink should have answered by now: not healthy.
      this.#silent++;
      health.error(
        "poll_unanswered",
        `iLink did not answer getupdates within ${timeoutMs / 1000} s (${this.#silent} in a row)`,
      );
      health.set(this.#silent >= STREAK ? "retrying" : "degraded");
      return;
    } finally {
      clearTimeout(held);
    }
    this.#silent = 0;
    up();
    const timeout = answer.longpolling_timeout_ms;
    if (typeof timeout === "number" && Number.isInteger(timeout) && timeout > 0) {
      this.#pollTimeoutMs = timeout;
    }
    const next = typeof answer.get_updates_buf === "string" && answer.get_updates_buf !== ""
      ? answer.get_updates_buf
      : this.#cursor;
    const messages = Array.isArray(answer.msgs) ? answer.msgs : [];
    const taken = messages.length > 0 ? this.#o.onBatch(messages) : Promise.resolve();
    taken.catch(() => {}); // seen in order below; never an unhandled rejection meanwhile
    this.#cursor = next;
    this.#saving = this.#saving.then(() => taken).then(
      () => this.#save(next, epoch),
      (error) => {
        if (epoch !== this.#epoch) return; // a batch before it failed: polled again anyway
        this.#epoch++;
        this.#rewind = true;
        this.#o.health.error("journal_failed", `a batch could not be journaled: ${error}`);
        this.#o.log.error(
          "a Weixin batch could not be journaled; it is polled again from the saved cursor",
          { error },
        );
      },
    );
  }

  async #save(cursor: string, epoch: number): Promise<void> {
    if (epoch !== this.#epoch || cursor === this.#savedCursor) return;
    try {
      await this.#o.saveCursor(cursor);
      this.#savedCursor = cursor;
      this.#o.health.detail("cursor_saved_at", new Date().toISOString());
    } catch (error) {
      this.#o.log.warn("the Weixin poll cursor could not be saved; the next batch tries again", {
        error,
      });
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#abort.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}
