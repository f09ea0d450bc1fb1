/**
 * Where a message comes from, and the session key derived from it:
 * `agent:main:{platform}:{chat_type}:{chat_id}[:{thread_id}][:{user_id}]`.
 * In groups each user has a session of their own unless configured
 * otherwise; in a DM the chat is the user.
 *
 * @module
 */

import type { SessionSource } from "../platforms/event.ts";

/**
 * The session key of `source`.
 *
 * @example
 * ```ts
 * sessionKey({ platform: "wecom", chatType: "group", chatId: "g1", userId: "alice" });
 * // "agent:main:wecom:group:g1:alice"
 * ```
 */
export function sessionKey(
  source: SessionSource,
  options: { groupSessionsPerUser?: boolean } = {},
): string {
  const parts = ["agent", "main", source.platform, source.chatType, source.chatId];
  if (source.threadId) parts.push(source.threadId);
  const perUser = source.chatType !== "dm" && (options.groupSessionsPerUser ?? true);
  if (perUser && source.userId) parts.push(source.userId);
  return parts.map((part) => part.replaceAll(":", "%3A")).join(":");
}
