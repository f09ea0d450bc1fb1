/**
 * Where a message comes from, and the session key derived from it:
 * `agent:main:{platform}:{chat_type}:{chat_id}[:thread:{thread_id}][:user:{user_id}]`.
 * In groups each user has a session of their own unless configured
 * otherwise; in a DM the chat is the user.
 *
 * Every part is escaped (`%` as `%25`, then `:` as `%3A`), so a part never
 * holds a separator and a key reads back into its parts; the optional parts
 * are named, so a thread is never taken for a user (chat `a:b` with user `c`
 * and chat `a` in thread `b` with user `c` were both `agent:main:…:a%3Ab:c`
 * and `…:a:b:c` once, and an id holding `%3A` could pass for one holding `:`).
 *
 * @module
 */

import type { SessionSource } from "../platforms/event.ts";

/** What a session key is made of (see {@linkcode parseSessionKey}). */
export interface SessionKeyParts {
  readonly platform: string;
  readonly chatType: string;
  readonly chatId: string;
  readonly threadId?: string;
  readonly userId?: string;
}

/**
 * The session key of `source`.
 *
 * @example
 * ```ts
 * sessionKey({ platform: "wecom", chatType: "group", chatId: "g1", userId: "alice" });
 * // "agent:main:wecom:group:g1:user:alice"
 * ```
 */
export function sessionKey(
  source: SessionSource,
  options: { groupSessionsPerUser?: boolean } = {},
): string {
  const parts = ["agent", "main", source.platform, source.chatType, source.chatId].map(escapePart);
  if (source.threadId) parts.push("thread", escapePart(source.threadId));
  const perUser = source.chatType !== "dm" && (options.groupSessionsPerUser ?? true);
  if (perUser && source.userId) parts.push("user", escapePart(source.userId));
  return parts.join(":");
}

/**
 * The parts of a session key, or undefined when `key` is not one.
 *
 * @example
 * ```ts
 * parseSessionKey("agent:main:telegram:group:-100%3A7:thread:12:user:42");
 * // { platform: "telegram", chatType: "group", chatId: "-100:7", threadId: "12", userId: "42" }
 * ```
 */
export function parseSessionKey(key: string): SessionKeyParts | undefined {
  const parts = key.split(":");
  if (parts.length < 5 || parts[0] !== "agent" || parts[1] !== "main") return undefined;
  const [platform, chatType, chatId] = parts.slice(2, 5).map(unescapePart);
  const found: { -readonly [K in keyof SessionKeyParts]: SessionKeyParts[K] } = {
    platform: platform!,
    chatType: chatType!,
    chatId: chatId!,
  };
  const rest = parts.slice(5);
  if (rest[0] === "thread" && rest.length >= 2) {
    found.threadId = unescapePart(rest.splice(0, 2)[1]!);
  }
  if (rest[0] === "user" && rest.length >= 2) found.userId = unescapePart(rest.splice(0, 2)[1]!);
  return rest.length === 0 ? found : undefined;
}

function escapePart(part: string): string {
  return part.replaceAll("%", "%25").replaceAll(":", "%3A");
}

function unescapePart(part: string): string {
  return part.replaceAll("%3A", ":").replaceAll("%25", "%");
}
