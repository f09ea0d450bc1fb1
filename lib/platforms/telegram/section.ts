/**
 * The `telegram` section of config.yaml: a Telegram bot through the Bot
 * API, by long polling or, with `webhook_url`, by webhook.
 *
 * @module
 */

import { z } from "zod";
import { defineSection } from "../../config/section.ts";
import { accessEnv, accessFields } from "../../auth/access_settings.ts";
import { DEFAULT_TELEGRAM_API } from "./api.ts";

/** Settings of the Telegram platform. */
export const telegramSection = defineSection({
  key: "telegram",
  schema: z.object({
    enabled: z.boolean().optional().describe(
      "Connect Telegram; unset means on when bot_token is set",
    ),
    bot_token: z.string().regex(
      /^\d+:[A-Za-z0-9_-]+$/,
      "a token as @BotFather gives it (123456:ABC…)",
    )
      .optional().describe("The bot's token from @BotFather (TELEGRAM_BOT_TOKEN)"),
    api_base_url: z.string().regex(/^https?:\/\/[^/]/, "an http:// or https:// URL")
      .default(DEFAULT_TELEGRAM_API).describe(
        "The Bot API (TELEGRAM_API_BASE_URL): Telegram's, or a local telegram-bot-api server",
      ),
    require_mention: z.boolean().default(true).describe(
      "In groups, answer only what addresses the bot: /cmd@bot, an @mention, a reply to it",
    ),
    poll_timeout_seconds: z.number().int().min(1).max(50).default(30).describe(
      "How long one getUpdates waits for updates (Telegram allows up to 50)",
    ),
    stall_seconds: z.number().min(10).default(120).describe(
      "A poll still unanswered this long after its timeout is a stall: it is abandoned and polled again",
    ),
    // http only on loopback: a local Bot API server, or a test's simulator.
    webhook_url: z.string().regex(
      /^(https:\/\/[^/]|http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/])/,
      "an https:// URL Telegram can reach (http:// only on 127.0.0.1)",
    )
      .optional().describe(
        "Receive updates by webhook at this public HTTPS URL instead of polling (TELEGRAM_WEBHOOK_URL; ports 443, 80, 88 or 8443)",
      ),
    webhook_secret: z.string().regex(
      /^[A-Za-z0-9_-]{16,256}$/,
      "16 to 256 characters of A-Z, a-z, 0-9, _ and -",
    ).optional().describe(
      "The secret Telegram sends with each update (TELEGRAM_WEBHOOK_SECRET); required with webhook_url",
    ),
    webhook_port: z.number().int().min(0).max(65535).default(8443).describe(
      "The port the webhook listener binds (TELEGRAM_WEBHOOK_PORT); a reverse proxy may sit in front",
    ),
    webhook_host: z.string().min(1).default("0.0.0.0").describe(
      "The address the webhook listener binds (TELEGRAM_WEBHOOK_HOST); 127.0.0.1 behind a reverse proxy",
    ),
    webhook_check_seconds: z.number().min(1).default(60).describe(
      "How often webhook mode asks Telegram (getWebhookInfo) whether its deliveries fail",
    ),
    media_allow_addresses: z.array(z.string().min(1)).default([]).describe(
      "IP addresses files may be fetched from although they are private (a local Bot API server, a simulator)",
    ),
    ...accessFields,
  }),
  env: {
    TELEGRAM_ENABLED: "enabled",
    TELEGRAM_BOT_TOKEN: "bot_token",
    TELEGRAM_API_BASE_URL: "api_base_url",
    TELEGRAM_REQUIRE_MENTION: "require_mention",
    TELEGRAM_POLL_TIMEOUT_SECONDS: "poll_timeout_seconds",
    TELEGRAM_STALL_SECONDS: "stall_seconds",
    TELEGRAM_WEBHOOK_URL: "webhook_url",
    TELEGRAM_WEBHOOK_SECRET: "webhook_secret",
    TELEGRAM_WEBHOOK_PORT: "webhook_port",
    TELEGRAM_WEBHOOK_HOST: "webhook_host",
    TELEGRAM_WEBHOOK_CHECK_SECONDS: "webhook_check_seconds",
    TELEGRAM_MEDIA_ALLOW_ADDRESSES: "media_allow_addresses",
    ...accessEnv("telegram"),
  },
  secrets: ["bot_token", "webhook_secret"],
});

/** The Telegram platform's settings, validated and with defaults. */
export type TelegramSettings = z.output<typeof telegramSection.schema>;

/**
 * The telegram section of a validated configuration.
 *
 * @example
 * ```ts
 * import type { ConfigData } from "../adapter.ts";
 * declare const config: ConfigData; // validated, defaults filled in
 *
 * telegramSettings(config).require_mention; // true unless configured
 * ```
 */
export function telegramSettings(config: Readonly<Record<string, unknown>>): TelegramSettings {
  return config.telegram as TelegramSettings;
}
