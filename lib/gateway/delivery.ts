/**
 * Delivers one reply through an adapter: split into parts the platform
 * accepts, previewed by progressive edits where it can edit, and recorded
 * in the outbound ledger so that a restart never sends a delivered part
 * twice and finishes one that was not.
 *
 * @module
 */

import type { PlatformAdapter } from "../platforms/adapter.ts";
import type { SessionSource } from "../platforms/event.ts";
import { chunkText } from "./chunk_text.ts";
import type { StateStore } from "../storage/state_store.ts";

/** What one reply needs. */
export interface ReplyDeliveryOptions {
  readonly adapter: PlatformAdapter;
  readonly to: SessionSource;
  /** The inbound message answered. */
  readonly replyTo: string;
  /** Base of the idempotency keys (`inbound:<journal id>`); part `i` is `<base>#<i>`. */
  readonly key: string;
  /** Where delivered parts are recorded. */
  readonly store: StateStore;
}

/**
 * One reply on its way out.
 *
 * @example
 * ```ts
 * const reply = new ReplyDelivery({ adapter, to, replyTo: "m1", key: "inbound:7", store });
 * await reply.preview("Hel");
 * await reply.complete("Hello");
 * ```
 */
export class ReplyDelivery {
  readonly #options: ReplyDeliveryOptions;
  readonly #messageIds: (string | undefined)[] = [];
  readonly #shown: string[] = [];
  #frozenParts = 0;
  #frozenEnd = 0;
  #delivered = false;

  constructor(options: ReplyDeliveryOptions) {
    this.#options = options;
  }

  /** Whether any part reached the platform (previews included). */
  get delivered(): boolean {
    return this.#delivered;
  }

  /** Shows `text` (the reply so far) by sending or editing; parts that overflowed are finalised. */
  async preview(text: string): Promise<void> {
    if (!this.#options.adapter.capabilities.edit) return;
    const parts = this.#split(text);
    for (let i = 0; i < parts.length; i++) {
      await this.#show(this.#frozenParts + i, parts[i]!.text, i < parts.length - 1);
    }
    // Every part but the last is final now; later previews start after them.
    if (parts.length > 1) {
      this.#frozenParts += parts.length - 1;
      this.#frozenEnd += parts[parts.length - 2]!.end;
    }
  }

  /** Delivers the whole reply's final text. */
  async complete(text: string): Promise<void> {
    const parts = this.#split(text);
    for (let i = 0; i < parts.length; i++) {
      await this.#show(this.#frozenParts + i, parts[i]!.text, true);
    }
  }

  #split(text: string) {
    const rest = text.slice(this.#frozenEnd);
    return chunkText(rest, this.#options.adapter.capabilities.maxMessageLength);
  }

  async #show(index: number, text: string, final: boolean): Promise<void> {
    if (!final && this.#shown[index] === text) return;
    const { adapter, to, replyTo, store } = this.#options;
    const key = `${this.#options.key}#${index}`;
    const recorded = await store.deliveredPart(key);
    if (recorded?.state === "sent") return; // delivered before a restart
    const known = this.#messageIds[index] ?? recorded?.platformMessageId ?? undefined;
    const message = { text, replyTo, final };
    const result = known && adapter.edit && adapter.capabilities.edit
      ? await adapter.edit(to, known, message)
      : await adapter.send(to, message);
    this.#delivered = true;
    this.#shown[index] = text;
    if (this.#messageIds[index] === undefined || final) {
      await store.recordPart(key, {
        platform: to.platform,
        chat: to.chatId,
        state: final ? "sent" : "sending",
        messageId: result.messageId,
        text,
      });
    }
    this.#messageIds[index] = result.messageId;
  }
}
