/**
 * Reset policies: when an open session ends by itself so the next message
 * starts a fresh one. `idle` after so many minutes without messages, `daily`
 * when the last message was before today's reset time, `both`, or `none`.
 * Overrides per chat type, then per platform, refine the defaults.
 *
 * @module
 */

import type { Config } from "../config/schema.ts";
import type { ChatType } from "../platforms/event.ts";

/** The effective reset policy of one kind of chat. */
export interface ResetPolicy {
  readonly mode: "daily" | "idle" | "both" | "none";
  readonly idleMinutes: number;
  /** "HH:MM", local time. */
  readonly dailyAt: string;
}

/**
 * The policy of `platform`'s `chatType` chats.
 *
 * @example
 * ```ts
 * import type { Config } from "../config/schema.ts";
 * declare const config: Config;
 * resetPolicyFor(config, "local", "dm"); // { mode: "both", idleMinutes: 1440, dailyAt: "04:00" }
 * ```
 */
export function resetPolicyFor(config: Config, platform: string, chatType: ChatType): ResetPolicy {
  const reset = config.sessions.reset;
  const layers = [reset, reset.chat_types[chatType] ?? {}, reset.platforms[platform] ?? {}];
  let policy: ResetPolicy = {
    mode: reset.mode,
    idleMinutes: reset.idle_minutes,
    dailyAt: reset.daily_at,
  };
  for (const layer of layers) {
    policy = {
      mode: layer.mode ?? policy.mode,
      idleMinutes: layer.idle_minutes ?? policy.idleMinutes,
      dailyAt: layer.daily_at ?? policy.dailyAt,
    };
  }
  return policy;
}

/**
 * Why a session last active at `lastActive` has expired at `now` under
 * `policy` ("idle" or "daily"), or undefined when it has not.
 *
 * @example
 * ```ts
 * expiry({ mode: "idle", idleMinutes: 60, dailyAt: "04:00" }, new Date("2026-01-01T10:00"), new Date("2026-01-01T11:30")); // "idle"
 * ```
 */
export function expiry(
  policy: ResetPolicy,
  lastActive: Date,
  now: Date,
): "idle" | "daily" | undefined {
  if (policy.mode === "none") return undefined;
  if (
    policy.mode !== "daily" && now.getTime() - lastActive.getTime() >= policy.idleMinutes * 60_000
  ) {
    return "idle";
  }
  if (policy.mode !== "idle" && lastActive < lastDailyBoundary(policy.dailyAt, now)) return "daily";
  return undefined;
}

/** The most recent local time `HH:MM` at or before `now`. */
function lastDailyBoundary(dailyAt: string, now: Date): Date {
  const [hours, minutes] = dailyAt.split(":").map(Number) as [number, number];
  const boundary = new Date(now);
  boundary.setHours(hours, minutes, 0, 0);
  if (boundary > now) boundary.setDate(boundary.getDate() - 1);
  return boundary;
}
