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
  description: "Telegram (Bot API, long polling)",
  enabled: (config) => {
    const settings = telegramSettings(config);
    return settings.enabled ?? settings.bot_token !== undefined;
  },
  check(config) {
    if (!telegramSettings(config).bot_token) {
      throw new ConfigError(
        "Telegram is on but TELEGRAM_BOT_TOKEN is not set: set it (telegram.bot_token) to the token @BotFather gave, or telegram.enabled: false",
      );
    }
  },
  create: async (context) => new (await import("./adapter.ts")).TelegramAdapter(context),
};

registerPlatform(telegramPlatform, { section: telegramSection });
