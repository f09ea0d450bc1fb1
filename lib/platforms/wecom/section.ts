/**
 * The `wecom` section of config.yaml: the WeCom AI Bot long connection.
 *
 * @module
 */

import { z } from "zod";
import { defineSection } from "../../config/section.ts";
import { accessEnv, accessFields } from "../../auth/access_settings.ts";

/** The official endpoint of the AI Bot long connection. */
export const DEFAULT_WECOM_URL = "wss://openws.work.weixin.qq.com";

const seconds = (fallback: number, what: string) =>
  z.number().min(0).default(fallback).describe(what);

/** Settings of the WeCom AI Bot platform. */
export const wecomSection = defineSection({
  key: "wecom",
  schema: z.object({
    enabled: z.boolean().optional().describe(
      "Connect the WeCom AI Bot; unset means on when bot_id is set",
    ),
    bot_id: z.string().min(1).optional().describe("The AI Bot's id (WECOM_BOT_ID)"),
    secret: z.string().min(1).optional().describe("The AI Bot's secret (WECOM_SECRET)"),
    websocket_url: z.string().regex(/^wss?:\/\//, "a ws:// or wss:// URL").default(
      DEFAULT_WECOM_URL,
    ).describe("The long-connection endpoint"),
    heartbeat_interval_seconds: z.number().positive().default(30).describe(
      "Seconds between pings; two unanswered pings end the link and it reconnects",
    ),
    heartbeat_timeout_seconds: z.number().positive().default(10).describe(
      "Seconds a ping's answer may take before it counts as missed",
    ),
    idle_resubscribe_seconds: seconds(
      1800,
      "Subscribe again after this long without any callback (0 turns it off)",
    ),
    superseded_retry_seconds: z.number().positive().default(300).describe(
      "After another client took the bot (disconnected_event), wait this long before trying again",
    ),
    text_batch_delay_seconds: seconds(
      0.6,
      "Quiet time after a text before it is handed on, so a long message the client split arrives whole (0 = off)",
    ),
    text_batch_split_delay_seconds: seconds(
      2,
      "The same wait after a chunk of 3,900 characters or more (the client splits at about 4,000)",
    ),
    media_allow_addresses: z.array(z.string().min(1)).default([]).describe(
      "IP addresses media may be fetched from although they are private (a URL must name them directly: an intranet proxy, a simulator)",
    ),
    ...accessFields,
  }),
  env: {
    WECOM_ENABLED: "enabled",
    WECOM_BOT_ID: "bot_id",
    WECOM_SECRET: "secret",
    WECOM_WEBSOCKET_URL: "websocket_url",
    WECOM_HEARTBEAT_INTERVAL_SECONDS: "heartbeat_interval_seconds",
    WECOM_HEARTBEAT_TIMEOUT_SECONDS: "heartbeat_timeout_seconds",
    WECOM_IDLE_RESUBSCRIBE_SECONDS: "idle_resubscribe_seconds",
    WECOM_MEDIA_ALLOW_ADDRESSES: "media_allow_addresses",
    WECOM_SUPERSEDED_RETRY_SECONDS: "superseded_retry_seconds",
    HERMES_WECOM_TEXT_BATCH_DELAY_SECONDS: "text_batch_delay_seconds",
    HERMES_WECOM_TEXT_BATCH_SPLIT_DELAY_SECONDS: "text_batch_split_delay_seconds",
    ...accessEnv("wecom"),
  },
  secrets: ["secret"],
});

/** The WeCom platform's settings, validated and with defaults. */
export type WecomSettings = z.output<typeof wecomSection.schema>;

/**
 * The wecom section of a validated configuration.
 *
 * @example
 * ```ts
 * import type { ConfigData } from "../adapter.ts";
 * declare const config: ConfigData; // validated, defaults filled in
 *
 * wecomSettings(config).heartbeat_interval_seconds; // 30 unless configured
 * ```
 */
export function wecomSettings(config: Readonly<Record<string, unknown>>): WecomSettings {
  return config.wecom as WecomSettings;
}
