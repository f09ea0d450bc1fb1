/**
 * A connect that waits its turn: another gateway of the pool holds the
 * bot's lease (or this one holds as many bots as `gateway.max_bots` lets
 * it), so the link stays in `standby` and is tried again later, without
 * the warnings and backoff of a failure.
 *
 * @module
 */

import { HermesError } from "../errors.ts";

/** Who holds the lease a standby link waits for (for `gateway status`). */
export interface StandbyHolder {
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  /** ISO time the holder's lease runs out unless renewed. */
  readonly lease_expires_at: string;
}

/**
 * Thrown by a connect that must wait: `retryInMs` says when to try again.
 * Its message stays the same while the wait is for the same reason (the
 * expiry is in `holder`), so a link logs a standby once, not every retry.
 *
 * @example
 * ```ts
 * throw new StandbyError("held by gw-1 on host-a", {
 *   holder: { owner: "gw-1", host: "host-a", pid: 4242, lease_expires_at: "2026-12-02T12:00:45Z" },
 *   retryInMs: 2_000,
 * });
 * ```
 */
export class StandbyError extends HermesError {
  /** The gateway holding the lease, when another one does. */
  readonly holder: StandbyHolder | undefined;
  /** When to try again. */
  readonly retryInMs: number;

  constructor(
    message: string,
    options: { holder?: StandbyHolder; retryInMs: number } & ErrorOptions,
  ) {
    super("standby", message, options);
    this.name = "StandbyError";
    this.holder = options.holder;
    this.retryInMs = options.retryInMs;
  }
}
