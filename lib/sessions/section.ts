/**
 * The `sessions` section of config.yaml: busy policy, group sessions, resume
 * window, retention and reset policies (with per-platform and per-chat-type
 * overrides).
 *
 * @module
 */

import { z } from "zod";
import { defineSection } from "../config/section.ts";

const resetFields = {
  mode: z.enum(["daily", "idle", "both", "none"]).describe(
    "When a session starts over: daily at a fixed hour, after idle minutes, both, or never",
  ),
  idle_minutes: z.number().int().positive().describe("Minutes without messages before a reset"),
  daily_at: z.string().regex(/^([01]?\d|2[0-3]):[0-5]\d$/, "expected HH:MM").describe(
    "Local time of the daily reset (HH:MM)",
  ),
};

/** A reset override: any of the reset fields. */
const resetOverride = z.object({
  mode: resetFields.mode.optional(),
  idle_minutes: resetFields.idle_minutes.optional(),
  daily_at: resetFields.daily_at.optional(),
});

/** Settings of sessions. */
export const sessionsSection = defineSection({
  key: "sessions",
  schema: z.object({
    busy_policy: z.enum(["interrupt", "queue"]).default("interrupt").describe(
      "A message arriving while the agent answers: interrupt it and answer the newest, or queue",
    ),
    group_sessions_per_user: z.boolean().default(true).describe(
      "In groups, each user has a session of their own",
    ),
    resume_window_minutes: z.number().int().min(0).default(60).describe(
      "A turn cut off by a restart is resumed if its message is younger than this",
    ),
    auto_prune: z.boolean().default(true).describe(
      "The gateway deletes ended sessions older than retention_days, once a day",
    ),
    retention_days: z.number().int().positive().default(90).describe(
      "Days an ended session (its transcript and search rows) is kept before it is pruned",
    ),
    vacuum_after_prune: z.boolean().default(false).describe(
      "Compact state.db after a prune that removed something (writes pause while it runs)",
    ),
    reset: z.object({
      mode: resetFields.mode.default("both"),
      idle_minutes: resetFields.idle_minutes.default(1440),
      daily_at: resetFields.daily_at.default("04:00"),
      chat_types: z.partialRecord(z.enum(["dm", "group", "channel"]), resetOverride).default({})
        .describe(
          "Overrides per chat type (dm, group, channel)",
        ),
      platforms: z.record(z.string(), resetOverride).default({}).describe(
        "Overrides per platform (win over chat types)",
      ),
    }).prefault({}),
  }),
  env: { HERMES_BUSY_POLICY: "busy_policy" },
  secrets: [],
});
