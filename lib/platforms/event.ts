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

/** JSON a platform hands the gateway and gets back untouched (WeCom's `req_id`, Weixin's token). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A file that came with a message or goes with a reply. */
export interface Attachment {
  readonly kind: "image" | "file" | "voice" | "video";
  readonly mime: string;
  readonly name?: string;
  /** Bytes. */
  readonly size: number;
  /** Where the file is on this machine (the media cache). */
  readonly path: string;
}

/** One inbound message, whatever platform it came from. */
export interface MessageEvent {
  /** The platform's id of this message; the pipeline drops repeats (of the same `kind`). */
  readonly messageId: string;
  /** Where it came from; also where the reply goes. */
  readonly source: SessionSource;
  /** The message text. */
  readonly text: string;
  /** ISO time the adapter received it. */
  readonly receivedAt: string;
  /** Display name of the sender, when the platform gives one. */
  readonly senderName?: string;
  /** `edit`: the sender changed an earlier message (not a repeat of it). Default `message`. */
  readonly kind?: "message" | "edit";
  /**
   * What the platform needs back to answer in this chat, journaled with the
   * event; the gateway hands the chat's newest one to every send.
   */
  readonly replyContext?: Json;
  /** The text of the message this one quotes, when the platform says. */
  readonly replyToText?: string;
  /** Files that came with it. */
  readonly attachments?: readonly Attachment[];
  /**
   * The ids of further platform messages joined into this one (the rest of
   * an album, the pieces of a text the client split): each is dropped as a
   * repeat afterwards, like `messageId`, so a platform that delivers them
   * again, alone or in a run, gets no second answer.
   */
  readonly joinedIds?: readonly string[];
}

/** A reply, or one part of a long reply. */
export interface OutboundMessage {
  readonly text: string;
  /** How `text` is written (default `plain`). */
  readonly format?: "plain" | "markdown";
  /** The inbound message this answers (adapters that thread replies use it). */
  readonly replyTo?: string;
  /** False while the text is still being streamed (a preview). */
  readonly final: boolean;
  /** Files that go with it. */
  readonly attachments?: readonly Attachment[];
}

/** What a send or an edit is part of. */
export interface SendContext {
  /** Stable for one part across retries and restarts: platforms that take a client id use it. */
  readonly idempotencyKey: string;
  /** 1 for the first try of a part, one more for each retry, restarts included. */
  readonly attempt: number;
  /**
   * The newest reply context of the chat's admitted messages (else, for a
   * message refused with an answer, its own).
   */
  readonly replyContext?: Json;
  /**
   * The reply context of the message answered, when it is not
   * `replyContext` (a newer message came since): platforms that answer a
   * message on its own handle (WeCom's req_id) try it first.
   */
  readonly inReplyToContext?: Json;
  /** The platform's id of the inbound message answered. */
  readonly inReplyTo?: string;
  /**
   * For an edit: the text the message shows now (its last preview). A
   * platform that refuses an edit that changes nothing (Telegram's "message
   * is not modified") can answer `sent` without calling it.
   */
  readonly shownText?: string;
}

/**
 * What the platform answered: sent (with the id edits address; an empty id
 * for a preview nobody can see, so there is nothing to edit later and the
 * final text goes as a message of its own), or "not now" (`deferred`):
 * until the chat's next inbound message brings a fresh reply context, or
 * until an ISO time. A refusal throws a `PlatformError`.
 */
export type SendResult =
  | { readonly status: "sent"; readonly messageId: string }
  | {
    readonly status: "deferred";
    readonly until: "next_inbound" | string;
    readonly reason: string;
  };
