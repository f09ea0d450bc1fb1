/**
 * getUpdates of the Telegram simulator (section 1 of
 * `shared/protocols/telegram.md`): confirm by offset (last + 1, or -N to
 * keep the last N), limit 1-100, a long poll held until an update arrives
 * or the timeout (clamped to 0-50 s) passes, and the 409 rules: a new long
 * poll ends the older pending one, a webhook refuses polling, setWebhook
 * ends a pending poll; at most one 409 goes out per conflict gap (3 s), the
 * rest wait for their turn.
 *
 * @module
 */

import { ApiError, type Params } from "./_telegram_http.ts";
import type { TelegramState, Update } from "./_telegram_state.ts";

/** The 409 a newer getUpdates gives the older pending one. */
export const CONFLICT_OTHER_POLL =
  "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
/** The 409 polling gets while a webhook is set. */
export const CONFLICT_WEBHOOK_ACTIVE =
  "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
/** The 409 setWebhook gives a pending poll. */
export const CONFLICT_SET_WEBHOOK = "Conflict: terminated by setWebhook request";

interface Held {
  /** Answers the poll with updates. */
  finish(updates: Update[]): void;
  /** Ends the poll with a 409 (after the throttle). */
  conflict(message: string): void;
}

/** Options of {@linkcode Poller}. */
export interface PollerOptions {
  /** The longest hold in ms whatever the timeout asked (default 50 000). */
  maxHoldMs: number;
  /** The least time between two 409 answers in ms (default 3000). */
  conflictGapMs: number;
}

/** The getUpdates side of the simulator. */
export class Poller {
  #held: Held | undefined;
  #nextConflict = 0;
  readonly #signal: AbortSignal;

  /** Serves `state`; `signal` ends every hold when the server closes. */
  constructor(
    readonly state: TelegramState,
    readonly options: PollerOptions,
    signal: AbortSignal,
  ) {
    this.#signal = signal;
  }

  /** Whether a long poll is being held. */
  get holding(): boolean {
    return this.#held !== undefined;
  }

  /**
   * Answers one getUpdates call: the updates, or throws the 409. Resolves
   * undefined when the server closes during a hold.
   */
  async getUpdates(params: Params, webhookSet: boolean): Promise<Update[] | undefined> {
    if (webhookSet) throw await this.#conflictError(CONFLICT_WEBHOOK_ACTIVE);
    const offset = integer(params.offset, 0);
    const limit = Math.min(100, Math.max(1, integer(params.limit, 100)));
    const timeout = Math.min(50, Math.max(0, Number(params.timeout ?? 0) || 0));
    const holdMs = Math.min(timeout * 1000, this.options.maxHoldMs);
    if (params.allowed_updates !== undefined) {
      this.state.allowedUpdates = allowed(params.allowed_updates);
    }
    this.state.confirm(offset);
    this.abort(CONFLICT_OTHER_POLL);
    const ready = () => {
      const updates = this.state.pending().slice(0, limit);
      return updates.length > 0 ? updates : undefined;
    };
    const now = ready();
    if (now || holdMs === 0) return now ?? [];
    return await new Promise<Update[] | undefined>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        unlisten();
        this.#signal.removeEventListener("abort", onAbort);
        if (this.#held === held) this.#held = undefined;
      };
      const held: Held = {
        finish: (updates) => {
          cleanup();
          resolve(updates);
        },
        conflict: (message) => {
          cleanup();
          this.#conflictError(message).then(reject);
        },
      };
      const onAbort = () => {
        cleanup();
        resolve(undefined);
      };
      const timer = setTimeout(() => held.finish([]), holdMs);
      const unlisten = this.state.listen(() => {
        const updates = ready();
        if (updates) held.finish(updates);
      });
      this.#signal.addEventListener("abort", onAbort, { once: true });
      this.#held = held;
    });
  }

  /** Ends the pending long poll, if any, with the 409 `message`. */
  abort(message: string): void {
    this.#held?.conflict(message);
  }

  /** A 409 that waits its turn: one per conflict gap. */
  async #conflictError(message: string): Promise<ApiError> {
    const now = performance.now();
    const at = Math.max(now, this.#nextConflict);
    this.#nextConflict = at + this.options.conflictGapMs;
    if (at > now) await sleep(at - now, this.#signal);
    return new ApiError(409, message);
  }
}

/** An integer parameter (number or numeric string), else `fallback`. */
export function integer(value: unknown, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const n = Math.trunc(Number(value));
  return Number.isFinite(n) ? n : fallback;
}

/** allowed_updates from a JSON array or its string. */
export function allowed(value: unknown): string[] {
  let list = value;
  if (typeof value === "string") {
    try {
      list = JSON.parse(value);
    } catch {
      list = [];
    }
  }
  return Array.isArray(list) ? list.map(String) : [];
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal.aborted) done();
    else signal.addEventListener("abort", done, { once: true });
  });
}
