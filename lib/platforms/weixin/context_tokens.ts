/**
 * The context tokens of Weixin peers: iLink hands one with each inbound
 * message, and a send to the peer carries the newest one. Two views: the
 * live one (every token seen) and the durable one (tokens of messages that
 * are journaled, saved beside the cursor, so a restart never holds a token
 * of a message it has not kept). Both keep at most {@linkcode MAX_PEERS}
 * peers, those heard from most recently: a peer silent for longer loses its
 * token, which only matters for a send nobody asked for (a reply carries the
 * token of the message it answers in its own context).
 *
 * @module
 */

import { BoundedMap } from "../../util/bounded_map.ts";

/** Most peers whose token is kept. */
export const MAX_PEERS = 10_000;
/** Most tokens remembered as stale (refused by iLink). */
export const MAX_STALE = 1_000;

/**
 * Live and durable tokens per peer, and the tokens iLink refused.
 *
 * @example
 * ```ts
 * const tokens = new ContextTokens(new Map([["u@im.wechat", "c1"]]));
 * tokens.received("u@im.wechat", "c2");
 * tokens.of("u@im.wechat"); // "c2"
 * tokens.journaled(new Map([["u@im.wechat", "c2"]]));
 * tokens.takeChanges(); // Map { "u@im.wechat" => "c2" }: save it
 * ```
 */
export class ContextTokens {
  readonly #live: BoundedMap<string, string>;
  readonly #durable: BoundedMap<string, string>;
  readonly #stale: BoundedMap<string, true>;
  #changed = false;

  /** `saved`: the durable tokens read at start; `maxPeers` defaults to {@linkcode MAX_PEERS}. */
  constructor(saved: Iterable<readonly [string, string]> = [], maxPeers = MAX_PEERS) {
    this.#durable = new BoundedMap(maxPeers);
    this.#live = new BoundedMap(maxPeers);
    this.#stale = new BoundedMap(MAX_STALE);
    this.load(saved);
  }

  /** Starts again from the saved tokens (a connect); what iLink called stale stays stale. */
  load(saved: Iterable<readonly [string, string]>): void {
    this.#durable.clear();
    for (const [peer, token] of saved) this.#durable.set(peer, token);
    this.#live.clear();
    for (const [peer, token] of this.#durable) this.#live.set(peer, token);
  }

  /** Peers with a live token. */
  get size(): number {
    return this.#live.size;
  }

  /** The newest token of `peer`, if any. */
  of(peer: string): string | undefined {
    return this.#live.get(peer);
  }

  /** Whether iLink called `token` stale. */
  isStale(token: string): boolean {
    return this.#stale.has(token);
  }

  /** A message of `peer` came with `token`: it is the peer's newest. */
  received(peer: string, token: string): void {
    this.#live.set(peer, token);
  }

  /** The messages that came with these tokens (peer → token) are journaled: they may be saved. */
  journaled(tokens: ReadonlyMap<string, string>): void {
    for (const [peer, token] of tokens) {
      if (this.#durable.get(peer) === token || this.#stale.has(token)) continue;
      this.#durable.set(peer, token);
      this.#changed = true;
    }
  }

  /** iLink refused `token`: no send uses it again. */
  forget(token: string): void {
    this.#stale.set(token, true);
    for (const tokens of [this.#live, this.#durable]) {
      for (const [peer, known] of tokens) {
        if (known !== token) continue;
        tokens.delete(peer);
        this.#changed = true;
      }
    }
  }

  /** The durable tokens to save when they changed since the last call, else undefined. */
  takeChanges(): ReadonlyMap<string, string> | undefined {
    if (!this.#changed) return undefined;
    this.#changed = false;
    return new Map(this.#durable);
  }

  /** The save of what {@linkcode takeChanges} gave failed: offer it again next time. */
  saveFailed(): void {
    this.#changed = true;
  }
}
