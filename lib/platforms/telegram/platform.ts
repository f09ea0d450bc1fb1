/**
 * Registers the Telegram platform: on when a bot token is configured.
 *
 * @module
 */

import { ConfigError } from "../../errors.ts";
import type { PlatformDefinition } from "../adapter.ts";
import { registerPlatform } from "../registry.ts";
import { telegramSection, type TelegramSettings, telegramSettings } from "./section.ts";

/** A Telegram bot through the Bot API. */
export const telegramPlatform: PlatformDefinition<TelegramSettings> = {
  name: "telegram",
  description: "Telegram (Bot API, long polling or webhook)",
  // Ids are numbers (case cannot matter) and usernames ignore case.
  idsFoldCase: true,
  enabled: (config) => {
    const settings = telegramSettings(config);
    return settings.enabled ?? settings.bot_token !== undefined;
  },
  check(config) {
    const settings = telegramSettings(config);
    if (!settings.bot_token) {
      throw new ConfigError(
        "Telegram is on but TELEGRAM_BOT_TOKEN is not set: set it (telegram.bot_token) to the token @BotFather gave, or telegram.enabled: false",
      );
    }
    if (settings.webhook_url && !settings.webhook_secret) {
      // Without it anyone who finds the URL could post updates as Telegram.
      throw new ConfigError(
        "Telegram webhook mode needs a secret: set TELEGRAM_WEBHOOK_SECRET (telegram.webhook_secret) to 16-256 random characters of A-Z a-z 0-9 _ -",
      );
    }
  },
  create: async (context) => new (await import("./adapter.ts")).TelegramAdapter(context),
};

registerPlatform(telegramPlatform, { section: telegramSection });
