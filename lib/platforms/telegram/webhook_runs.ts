/**
 * Webhook updates gathered into the messages they make. Telegram POSTs
 * each update on its own, several at once (up to max_connections), so the
 * items of an album and the pieces of a text a client split arrive as
 * separate requests, in any order. An update that may be followed by more
 * of its message is held, unanswered, until nothing more of it came for a
 * short while; then the whole run is taken (journaled) at once, in
 * update_id order, and every request of it is answered. What the same chat
 * sends meanwhile waits behind the run, so it is not answered before it.
 *
 * @module
 */

import { continuesMessage, mayContinue, type TgUpdate } from "./inbound.ts";

/** How long a run waits for its next piece (the reference gateway buffers 0.8 s). */
export const RUN_WAIT_MS = 800;

interface OpenRun {
  /** The pieces of the message. */
  readonly updates: TgUpdate[];
  /** Messages of the same chat that came while it was held: taken right after it. */
  readonly followers: TgUpdate[];
  readonly waiters: { resolve: () => void; reject: (error: unknown) => void }[];
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Gathers webhook updates into runs; `take` journals a run's updates (in
 * update_id order) and is called for one run at a time, in the order the
 * runs closed.
 *
 * @example
 * ```ts
 * const runs = new WebhookRuns(async (updates) => console.log(updates.length));
 * await runs.add({ update_id: 1 }); // not part of anything: taken at once
 * ```
 */
export class WebhookRuns {
  readonly #take: (updates: TgUpdate[]) => Promise<void>;
  readonly #waitMs: number;
  readonly #open: OpenRun[] = [];
  #turn: Promise<void> = Promise.resolve();

  constructor(take: (updates: TgUpdate[]) => Promise<void>, waitMs = RUN_WAIT_MS) {
    this.#take = take;
    this.#waitMs = waitMs;
  }

  /** How many runs are waiting for more. */
  get waiting(): number {
    return this.#open.length;
  }

  /** Adds one update; resolves once the run it belongs to is taken (rejects if that failed). */
  add(update: TgUpdate): Promise<void> {
    const run = this.#open.find((open) =>
      open.updates.some((u) => continuesMessage(u, update) || continuesMessage(update, u))
    );
    // A message that follows a held one of its chat waits behind it ("what's in these?").
    const behind = run || mayContinue([update])
      ? undefined
      : this.#open.findLast((open) => chatOf(open.updates[0]!) === chatOf(update));
    if (behind) {
      return new Promise<void>((resolve, reject) => {
        behind.followers.push(update);
        behind.waiters.push({ resolve, reject });
      });
    }
    if (!run && !mayContinue([update])) return this.#enqueue([update]);
    return new Promise<void>((resolve, reject) => {
      if (run) {
        run.updates.push(update);
        run.waiters.push({ resolve, reject });
        clearTimeout(run.timer);
        run.timer = this.#close(run);
        return;
      }
      const opened: OpenRun = { updates: [update], followers: [], waiters: [{ resolve, reject }] };
      opened.timer = this.#close(opened);
      this.#open.push(opened);
    });
  }

  /** Takes every waiting run now (the listener is closing). */
  async flush(): Promise<void> {
    for (const run of [...this.#open]) {
      clearTimeout(run.timer);
      this.#settle(run);
    }
    await this.#turn;
  }

  #close(run: OpenRun): ReturnType<typeof setTimeout> {
    return setTimeout(() => this.#settle(run), this.#waitMs);
  }

  #settle(run: OpenRun): void {
    this.#open.splice(this.#open.indexOf(run), 1);
    this.#enqueue(byId(run.updates).concat(byId(run.followers))).then(
      () => run.waiters.forEach((w) => w.resolve()),
      (error) => run.waiters.forEach((w) => w.reject(error)),
    );
  }

  #enqueue(updates: TgUpdate[]): Promise<void> {
    const taking = this.#turn.then(() => this.#take(updates));
    this.#turn = taking.catch(() => {});
    return taking;
  }
}

function chatOf(update: TgUpdate): number | undefined {
  return (update.message ?? update.edited_message)?.chat.id;
}

function byId(updates: readonly TgUpdate[]): TgUpdate[] {
  return [...updates].sort((a, b) => a.update_id - b.update_id);
}
