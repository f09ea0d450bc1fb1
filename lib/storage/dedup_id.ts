/**
 * The journal's dedup id of an inbound message, the same on every backend:
 * the unique (platform, dedup id) of the journal drops repeats.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { MessageEvent } from "../platforms/event.ts";

/**
 * The message ids of entries no platform sent (`hermes send`): journaled
 * only so their parts follow the outbox's rules, never taken for what a chat said.
 */
export const OPERATOR_MESSAGE_PREFIX = "send:";

/**
 * What makes an inbound message a repeat: its chat and its id (an id is the
 * platform's, and some number messages per chat); for an edit, also its new
 * text (each edit is a message of its own; the same edit delivered twice is a
 * repeat). The parts are escaped (`%` as `%25`, `:` as `%3A`), so `:` only
 * separates them and `#edit:` only ever starts an edit's suffix. Schema 11
 * rewrote the ids journaled before in this form, so a message delivered again
 * across the upgrade is still a repeat.
 *
 * @example
 * ```ts
 * dedupId({ messageId: "b-1", source: { platform: "local", chatType: "dm", chatId: "alice" },
 *   text: "hi", receivedAt: "2026-01-01T00:00:00Z" });
 * // "dm:alice:b-1"
 * ```
 */
export function dedupId(event: MessageEvent): string {
  const { chatType, chatId } = event.source;
  const id = [chatType, chatId, event.messageId].map(escapePart).join(":");
  if (event.kind !== "edit") return id;
  const digest = createHash("sha256").update(event.text).digest("hex").slice(0, 16);
  return `${id}#edit:${digest}`;
}

function escapePart(part: string): string {
  return part.replaceAll("%", "%25").replaceAll(":", "%3A");
}

/**
 * The journal's record of message `messageId`, joined into `event` (the rest
 * of an album): deduplicated like any message of its chat.
 *
 * @example
 * ```ts
 * import type { MessageEvent } from "../platforms/event.ts";
 * declare const album: MessageEvent;
 * joinedPiece(album, "42:7").messageId; // "42:7"
 * ```
 */
export function joinedPiece(event: MessageEvent, messageId: string): MessageEvent {
  return { messageId, source: event.source, text: "", receivedAt: event.receivedAt };
}
