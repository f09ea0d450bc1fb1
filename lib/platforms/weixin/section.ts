/**
 * The `weixin` section of config.yaml: personal WeChat through Tencent's
 * iLink bot API (HTTP long-polling, a CDN for media).
 *
 * @module
 */

import { z } from "zod";
import { defineSection } from "../../config/section.ts";
import { accessEnv, accessFields } from "../../auth/access_settings.ts";

/** The iLink API. */
export const DEFAULT_WEIXIN_BASE_URL = "https://ilinkai.weixin.qq.com";
/** The iLink media CDN. */
export const DEFAULT_WEIXIN_CDN_URL = "https://novac2c.cdn.weixin.qq.com/c2c";

const seconds = (fallback: number, what: string) =>
  z.number().min(0).default(fallback).describe(what);
const httpUrl = z.string().regex(/^https?:\/\/[^/]/, "an http:// or https:// URL");

/** Settings of the Weixin platform. */
export const weixinSection = defineSection({
  key: "weixin",
  schema: z.object({
    enabled: z.boolean().optional().describe(
      "Connect Weixin; unset means on when account_id is set",
    ),
    account_id: z.string().min(1).optional().describe(
      "The bot account (ilink_bot_id) that `hermes weixin login` printed (WEIXIN_ACCOUNT_ID)",
    ),
    token: z.string().min(1).optional().describe(
      "The bot token (WEIXIN_TOKEN); unset, it is read from the account file login wrote",
    ),
    base_url: httpUrl.optional().describe(
      "The iLink API (WEIXIN_BASE_URL); unset: the account file's, else the official one",
    ),
    cdn_base_url: httpUrl.default(DEFAULT_WEIXIN_CDN_URL).describe(
      "The media CDN (WEIXIN_CDN_BASE_URL)",
    ),
    split_multiline_messages: z.boolean().default(false).describe(
      "Send every top-level line of a reply as its own bubble",
    ),
    plain_text: z.boolean().default(true).describe(
      "Flatten markdown (bold, code, links) into plain text: Weixin shows no markdown",
    ),
    send_chunk_delay_seconds: seconds(1.5, "Pause between the bubbles of one reply"),
    send_chunk_retries: z.number().int().min(0).default(4).describe(
      "Tries again of one bubble after a network error, with the same client_id",
    ),
    send_chunk_retry_delay_seconds: seconds(
      1,
      "Wait before a bubble's next try (times the try number; three times for a rate limit)",
    ),
    rate_limit_circuit_threshold: z.number().int().min(1).default(1).describe(
      "Rate-limit answers within the window that open the circuit (sends then fail fast)",
    ),
    rate_limit_circuit_window_seconds: seconds(30, "The window rate-limit answers are counted in"),
    rate_limit_circuit_open_seconds: seconds(30, "How long an open circuit refuses sends"),
    session_expired_pause_seconds: seconds(
      600,
      "Polling pause after iLink says the session expired (-14)",
    ),
    // An invalid or negative delay means the default, as in the reference gateway.
    text_batch_delay_seconds: seconds(
      3,
      "Quiet time after a text before it is handed on, so a message the client split arrives whole (0 = off; invalid: 3)",
    ).catch(3),
    text_batch_split_delay_seconds: seconds(
      5,
      "The same wait after a piece near the client's split length (1,900 characters or more; invalid: 5)",
    ).catch(5),
    media_allow_addresses: z.array(z.string().min(1)).default([]).describe(
      "IP addresses media may be fetched from although they are private (a URL must name them directly: an intranet proxy, a simulator)",
    ),
    ...accessFields,
    group_policy: accessFields.group_policy.unwrap().default("disabled").describe(
      "Who may talk in groups (open, allowlist, pairing, disabled); default disabled: iLink bots rarely get group messages",
    ),
  }),
  env: {
    WEIXIN_ENABLED: "enabled",
    WEIXIN_ACCOUNT_ID: "account_id",
    WEIXIN_TOKEN: "token",
    WEIXIN_BASE_URL: "base_url",
    WEIXIN_CDN_BASE_URL: "cdn_base_url",
    WEIXIN_SPLIT_MULTILINE_MESSAGES: "split_multiline_messages",
    WEIXIN_PLAIN_TEXT: "plain_text",
    WEIXIN_SEND_CHUNK_DELAY_SECONDS: "send_chunk_delay_seconds",
    WEIXIN_SEND_CHUNK_RETRIES: "send_chunk_retries",
    WEIXIN_SEND_CHUNK_RETRY_DELAY_SECONDS: "send_chunk_retry_delay_seconds",
    WEIXIN_RATE_LIMIT_CIRCUIT_THRESHOLD: "rate_limit_circuit_threshold",
    WEIXIN_RATE_LIMIT_CIRCUIT_WINDOW_SECONDS: "rate_limit_circuit_window_seconds",
    WEIXIN_RATE_LIMIT_CIRCUIT_OPEN_SECONDS: "rate_limit_circuit_open_seconds",
    WEIXIN_SESSION_EXPIRED_PAUSE_SECONDS: "session_expired_pause_seconds",
    WEIXIN_TEXT_BATCH_DELAY_SECONDS: "text_batch_delay_seconds",
    WEIXIN_TEXT_BATCH_SPLIT_DELAY_SECONDS: "text_batch_split_delay_seconds",
    WEIXIN_MEDIA_ALLOW_ADDRESSES: "media_allow_addresses",
    WEIXIN_GROUP_ALLOWED_USERS: "group_allow_from",
    ...accessEnv("weixin"),
  },
  secrets: ["token"],
});

/** The Weixin platform's settings, validated and with defaults. */
export type WeixinSettings = z.output<typeof weixinSection.schema>;

/**
 * The weixin section of a validated configuration.
 *
 * @example
 * ```ts
 * import type { ConfigData } from "../adapter.ts";
 * declare const config: ConfigData; // validated, defaults filled in
 *
 * weixinSettings(config).send_chunk_retries; // 4 unless configured
 * ```
 */
export function weixinSettings(config: Readonly<Record<string, unknown>>): WeixinSettings {
  return config.weixin as WeixinSettings;
}
