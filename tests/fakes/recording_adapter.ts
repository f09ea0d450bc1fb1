/**
 * A platform adapter for pipeline tests: records every send, edit and
 * settle, as a real platform's server would see them, and can be told to
 * behave like a platform without edits or with a short message limit.
 *
 * @module
 */

import type { Capabilities, PlatformAdapter } from "../../lib/platforms/adapter.ts";
import type {
  MessageEvent,
  OutboundMessage,
  SendContext,
  SendResult,
  SessionSource,
} from "../../lib/platforms/event.ts";
import { type LinkHealth, LinkHealthTracker } from "../../lib/platforms/health.ts";

/** One message as the platform holds it: its latest text and whether it is final. */
export interface RecordedMessage {
  readonly id: string;
  readonly chatId: string;
  readonly replyTo: string | undefined;
  text: string;
  final: boolean;
  edits: number;
}

/** The adapter. */
export class RecordingAdapter implements PlatformAdapter {
  readonly name: string;
  readonly capabilities: Capabilities;
  /** Messages in the order they were first sent. */
  readonly messages: RecordedMessage[] = [];
  /** Inbound message ids the pipeline settled, with the outcome. */
  readonly settledLog: { messageId: string; outcome: string }[] = [];
  /** Refuse every preview (a send or edit that is not final), as a rate-limited platform may. */
  refusePreviews = false;
  /** Previews refused so far. */
  refusedPreviews = 0;
  /** Final sends never answer (a platform slow to acknowledge, then a crash). */
  hangFinalSends = false;
  /** The next this many final sends fail as if the connection broke. */
  failFinalSends = 0;
  /** What happened in the platform's chats, in order: `typing` and `message` events. */
  readonly timeline: string[] = [];
  /** The context of every final send and edit, in order. */
  readonly finalContexts: { text: string; context: SendContext }[] = [];
  readonly #health = new LinkHealthTracker();
  #next = 1;
  #waiters: { check: () => boolean; resolve: () => void }[] = [];

  constructor(name = "test", capabilities: Partial<Capabilities> = {}) {
    this.name = name;
    this.capabilities = { streaming: "edit", maxMessageLength: 4096, ...capabilities };
  }

  connect(): Promise<void> {
    this.#health.set("subscribed");
    return Promise.resolve();
  }

  disconnect(): Promise<void> {
    return Promise.resolve();
  }

  send(to: SessionSource, message: OutboundMessage, context: SendContext): Promise<SendResult> {
    if (this.#refuses(message)) return Promise.reject(new Error("429: Too Many Requests"));
    if (message.final) this.finalContexts.push({ text: message.text, context });
    if (message.final && this.hangFinalSends) return new Promise(() => {});
    if (message.final && this.failFinalSends > 0) {
      this.failFinalSends--;
      return Promise.reject(new TypeError("error sending request: connection reset"));
    }
    this.timeline.push("message");
    const id = `m${this.#next++}`;
    this.messages.push({
      id,
      chatId: to.chatId,
      replyTo: message.replyTo,
      text: message.text,
      final: message.final,
      edits: 0,
    });
    this.#wake();
    return Promise.resolve({ status: "sent", messageId: id });
  }

  edit(
    _to: SessionSource,
    messageId: string,
    message: OutboundMessage,
    context: SendContext,
  ): Promise<SendResult> {
    if (this.#refuses(message)) return Promise.reject(new Error("429: Too Many Requests"));
    if (message.final) this.finalContexts.push({ text: message.text, context });
    if (message.final && this.hangFinalSends) return new Promise(() => {});
    const existing = this.messages.find((m) => m.id === messageId);
    if (!existing) throw new Error(`edit of unknown message ${messageId}`);
    existing.text = message.text;
    existing.final = message.final;
    existing.edits++;
    this.#wake();
    return Promise.resolve({ status: "sent", messageId });
  }

  /** Drafts shown (`streaming: "draft"`), in order. */
  readonly drafts: { id: string; text: string }[] = [];

  draft(_to: SessionSource, id: string, text: string): Promise<void> {
    this.drafts.push({ id, text });
    return Promise.resolve();
  }

  typing(): Promise<void> {
    this.timeline.push("typing");
    return Promise.resolve();
  }

  settled(event: MessageEvent, outcome: string): void {
    this.settledLog.push({ messageId: event.messageId, outcome });
    this.#wake();
  }

  health(): LinkHealth {
    return this.#health.snapshot();
  }

  /** Final texts replying to `messageId`. */
  repliesTo(messageId: string): string[] {
    return this.messages.filter((m) => m.replyTo === messageId && m.final).map((m) => m.text);
  }

  /** Resolves once `check` holds (checked after every send, edit and settle). */
  until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("condition not reached in time")), timeoutMs);
      this.#waiters.push({
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  #refuses(message: OutboundMessage): boolean {
    if (!this.refusePreviews || message.final) return false;
    this.refusedPreviews++;
    return true;
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }
}
