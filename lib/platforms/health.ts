/**
 * Link health: whether a platform link actually delivers, not merely whether
 * its socket is open. Adapters record what happens; the gateway publishes the
 * snapshot in gateway_state.json and `hermes gateway status`.
 *
 * @module
 */

/** The states of a link. */
export type LinkState =
  | "connecting"
  | "subscribed"
  | "receiving"
  | "degraded"
  | "retrying"
  | "superseded"
  | "standby"
  | "fatal"
  | "stopped";

/** What `gateway status` shows of one platform link. */
export interface LinkHealth {
  readonly state: LinkState;
  /** ISO time of the last inbound message, per route (dm, group, channel). */
  readonly last_inbound_at: Readonly<Record<string, string>>;
  readonly last_send_ok_at: string | null;
  readonly last_error:
    | { readonly code: string; readonly message: string; readonly at: string }
    | null;
  readonly reconnects: number;
  /**
   * The longest time in ms the link was not subscribed since the first
   * connect, the window still open included.
   */
  readonly longest_dead_window_ms: number;
  /** ISO time the link went down and has not come back since (null while up or stopped). */
  readonly down_since: string | null;
  /** ISO time the link entered `stopped` (null while it is not stopped). */
  readonly stopped_at: string | null;
  /** Free-form facts an adapter adds (listening address, ...). */
  readonly details: Readonly<Record<string, unknown>>;
}

/**
 * Tracks one link's health.
 *
 * @example
 * ```ts
 * const health = new LinkHealthTracker();
 * health.set("subscribed");
 * health.inbound("dm");
 * health.snapshot().state; // "receiving"
 * ```
 */
export class LinkHealthTracker {
  #state: LinkState = "connecting";
  #inbound: Record<string, string> = {};
  #sendOk: string | null = null;
  #error: LinkHealth["last_error"] = null;
  #reconnects = 0;
  #everUp = false;
  #downSince: number | null = null;
  #longestDead = 0;
  #stoppedAt: string | null = null;
  #details: Record<string, unknown> = {};
  readonly #now: () => Date;

  readonly #onChange: ((state: LinkState) => void) | undefined;

  /** `onChange` hears every change of state (the gateway flushes its outbox when a link is up again). */
  constructor(now: () => Date = () => new Date(), onChange?: (state: LinkState) => void) {
    this.#now = now;
    this.#onChange = onChange;
  }

  /** The current state. */
  get state(): LinkState {
    return this.#state;
  }

  /**
   * Moves to `state`, measuring dead windows between subscriptions (a stop
   * ends one). Entering `stopped` records when; leaving it clears that time.
   */
  set(state: LinkState): void {
    const at = this.#now();
    const now = at.getTime();
    // A degraded link (a ping went unanswered) still delivers: no dead window yet.
    const up = state === "subscribed" || state === "receiving" || state === "degraded";
    // A stop ends a dead window too: a stopped link is not dead, it is stopped.
    if (up || state === "stopped") {
      if (this.#downSince !== null) {
        this.#longestDead = Math.max(this.#longestDead, now - this.#downSince);
        this.#downSince = null;
      }
      if (up) this.#everUp = true;
    } else if (this.#everUp && this.#downSince === null) {
      this.#downSince = now;
    }
    // One reconnect per way back: after a loss, and after a step back (superseded) too.
    const back = (s: string) => s === "retrying" || s === "connecting";
    if (this.#everUp && back(state) && !back(this.#state)) this.#reconnects++;
    if (state !== "stopped") this.#stoppedAt = null;
    else if (this.#state !== "stopped" || this.#stoppedAt === null) {
      this.#stoppedAt = at.toISOString();
    }
    const changed = this.#state !== state;
    this.#state = state;
    if (changed) this.#onChange?.(state);
  }

  /** Records an inbound message on `route`. */
  inbound(route: string): void {
    this.#inbound[route] = this.#now().toISOString();
    if (this.#state === "subscribed") this.set("receiving");
  }

  /** Records a successful send. */
  sendOk(): void {
    this.#sendOk = this.#now().toISOString();
  }

  /** Records an error with the platform's code (or a local one). */
  error(code: string, message: string): void {
    this.#error = { code, message, at: this.#now().toISOString() };
  }

  /** Adds facts shown with the health (listening address, account, ...). */
  detail(key: string, value: unknown): void {
    this.#details[key] = value;
  }

  /** A copy for status output. */
  snapshot(): LinkHealth {
    return {
      state: this.#state,
      last_inbound_at: { ...this.#inbound },
      last_send_ok_at: this.#sendOk,
      last_error: this.#error,
      reconnects: this.#reconnects,
      longest_dead_window_ms: Math.max(
        this.#longestDead,
        this.#downSince === null ? 0 : this.#now().getTime() - this.#downSince,
      ),
      down_since: this.#downSince === null ? null : new Date(this.#downSince).toISOString(),
      stopped_at: this.#stoppedAt,
      details: { ...this.#details },
    };
  }
}
