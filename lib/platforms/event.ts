/**
 * What adapters hand the pipeline and what the pipeline hands back: one
 * inbound `MessageEvent` per platform message, and outbound messages
 * addressed to the chat an event came from.
 *
 * @module
 */

/** The kinds of chat a message can come from. */
export type ChatType = "dm" | "group" | "channel";

/** Where a message comes from; also where its reply goes. */
export interface SessionSource {
  readonly platform: string;
  readonly chatType: ChatType;
  readonly chatId: string;
  readonly threadId?: string;
  readonly userId?: string;
}

/** One inbound message, whatever platform it came from. */
export interface MessageEvent {
  /** The platform's id of this message; the pipeline drops repeats. */
  readonly messageId: string;
  /** Where it came from; also where the reply goes. */
  readonly source: SessionSource;
  /** The message text (media arrive with the platform issues). */
  readonly text: string;
  /** ISO time the adapter received it. */
  readonly receivedAt: string;
  /** Display name of the sender, when the platform gives one. */
  readonly senderName?: string;
}

/** A reply, or one part of a long reply. */
export interface OutboundMessage {
  readonly text: string;
  /** The inbound message this answers (adapters that thread replies use it). */
  readonly replyTo?: string;
  /** False while the text is still being streamed (only with `edit`). */
  readonly final: boolean;
}

/** What the platform answered to a send or an edit. */
export interface SendResult {
  /** The platform's id of the sent message (edits address it). */
  readonly messageId: string;
}
