/**
 * The message id of a web chat message: `ws-{user}-{client id}` in a DM,
 * `ws-{room}/{user}-{client id}` in a room. The names are escaped (`%`,
 * `-` and `/` as `%25`, `%2D`, `%2F`), so the first `-` after them ends the
 * name and no two senders share an id: `alice` sending `b-1` and `alice-b`
 * sending `1` were both `ws-alice-b-1`. A name without those characters
 * keeps the id it had before, so a resend across an upgrade is still a repeat.
 *
 * @module
 */

import type { SessionSource } from "../event.ts";

/**
 * The message id of `clientId` sent from `source`.
 *
 * @example
 * ```ts
 * webChatMessageId({ platform: "local", chatType: "dm", chatId: "alice-b", userId: "alice-b" }, "1");
 * // "ws-alice%2Db-1"
 * ```
 */
export function webChatMessageId(source: SessionSource, clientId: string): string {
  const user = escapeName(source.userId ?? source.chatId);
  return source.chatType === "dm"
    ? `ws-${user}-${clientId}`
    : `ws-${escapeName(source.chatId)}/${user}-${clientId}`;
}

function escapeName(name: string): string {
  return name.replaceAll("%", "%25").replaceAll("-", "%2D").replaceAll("/", "%2F");
}
