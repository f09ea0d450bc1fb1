/**
 * The previews of a reply while the agent writes it, on platforms that
 * stream by editing: the text so far, split into the parts the platform
 * accepts, each sent once and then edited as it grows. Previews are best
 * effort (a refused one is the caller's to log); each part's platform id is
 * kept in the ledger, so that the final parts (and, after a crash, the
 * answer given again) replace them instead of adding messages.
 *
 * @module
 */

import type { PlatformAdapter } from "../platforms/adapter.ts";
import { capabilitiesOf, streamingFor } from "../platforms/capabilities.ts";
import type { SessionSource } from "../platforms/event.ts";
import type { NewPart, StateStore } from "../storage/state_store.ts";
import { chunkText } from "./chunk_text.ts";

/** Replaces a preview of an earlier answer that the new one does not need. */
const REPLACED_PREVIEW = "(see the answer above)";

/** What the previews of one reply need. */
export interface PreviewsOptions {
  readonly adapter: PlatformAdapter;
  readonly to: SessionSource;
  /** The inbound message answered. */
  readonly replyTo: string;
  /** Base of the parts' keys (`inbound:<journal id>`); part `i` is `<base>#<i>`. */
  readonly key: string;
  /** Where each preview's platform id is kept. */
  readonly store: StateStore;
}

/**
 * The previews of one reply.
 *
 * @example
 * ```ts
 * import type { PlatformAdapter } from "../platforms/adapter.ts";
 * import type { StateStore } from "../storage/state_store.ts";
 * declare const adapter: PlatformAdapter, store: StateStore;
 * const to = { platform: "local", chatType: "dm", chatId: "alice" } as const;
 * const previews = new Previews({ adapter, to, replyTo: "m1", key: "inbound:7", store });
 * await previews.show("Hel");
 * await previews.show("Hello");       // edits the same message
 * await previews.finalParts("Hello!"); // [{ text: "Hello!", editOf: "<that message's id>" }]
 * ```
 */
export class Previews {
  readonly #options: PreviewsOptions;
  readonly #ids: (string | undefined)[] = [];
  readonly #shown: string[] = [];
  #loaded = false;
  #drafted = false;

  constructor(options: PreviewsOptions) {
    this.#options = options;
  }

  /** Whether any preview reached the platform (in this run or one before a crash). */
  get shown(): boolean {
    return this.#drafted || this.#ids.some((id) => id !== undefined);
  }

  /**
   * Shows `text` (the reply so far): as the platform's draft where it
   * streams by `draft`, else part by part, each part sent once and then
   * edited. Throws what the platform threw.
   */
  async show(text: string): Promise<void> {
    const { adapter, to, replyTo, store, key } = this.#options;
    const capabilities = capabilitiesOf(adapter);
    if (streamingFor(adapter, to.chatType) === "draft" && adapter.draft) {
      // A draft is one growing bubble: the final parts are sent as new messages.
      await adapter.draft(to, key, text.slice(0, capabilities.maxMessageLength));
      this.#drafted = true;
      return;
    }
    await this.#load();
    const parts = chunkText(text, capabilities.maxMessageLength, capabilities.lengthUnit);
    for (let i = 0; i < parts.length; i++) {
      const partText = parts[i]!.text;
      if (this.#shown[i] === partText) continue;
      const message = { text: partText, replyTo, final: false };
      const context = { idempotencyKey: `${key}#${i}:preview`, attempt: 1, inReplyTo: replyTo };
      const known = this.#ids[i];
      const result = known && adapter.edit
        ? await adapter.edit(to, known, message, context)
        : await adapter.send(to, message, context);
      const id = result && "messageId" in result ? result.messageId : undefined;
      this.#shown[i] = partText;
      if (id && id !== this.#ids[i]) {
        this.#ids[i] = id;
        await store.recordPart(`${key}#${i}`, {
          platform: to.platform,
          chat: to.chatId,
          state: "sending",
          messageId: id,
          text: partText,
        });
      }
    }
  }

  /**
   * The final parts of `text`, each replacing the preview shown for it; a
   * preview the text no longer fills (an earlier, longer answer, before a
   * crash) is replaced by a pointer to the answer, so no stale text stays.
   */
  async finalParts(text: string): Promise<NewPart[]> {
    await this.#load();
    const { maxMessageLength, lengthUnit } = capabilitiesOf(this.#options.adapter);
    const chunks = chunkText(text, maxMessageLength, lengthUnit);
    const parts: NewPart[] = chunks.map((chunk, i) => ({
      text: chunk.text,
      editOf: this.#ids[i],
      // Known only for what this run showed (a preview from before a crash is replaced anyway).
      shownText: this.#ids[i] ? this.#shown[i] : undefined,
    }));
    for (let i = chunks.length; i < this.#ids.length; i++) {
      const editOf = this.#ids[i];
      if (editOf) parts.push({ text: REPLACED_PREVIEW, editOf, shownText: this.#shown[i] });
    }
    return parts;
  }

  /** Picks up the previews a run before a crash showed (their ids are in the ledger). */
  async #load(): Promise<void> {
    if (this.#loaded) return;
    this.#loaded = true;
    for (let i = 0;; i++) {
      const recorded = await this.#options.store.deliveredPart(`${this.#options.key}#${i}`);
      if (!recorded?.platformMessageId) break;
      this.#ids[i] = recorded.platformMessageId;
    }
  }
}
