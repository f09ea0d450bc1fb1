/**
 * Registers the WeCom AI Bot platform: on when a bot id is configured.
 *
 * @module
 */

import { ConfigError } from "../../errors.ts";
import type { PlatformDefinition } from "../adapter.ts";
import { registerPlatform } from "../registry.ts";
import { wecomSection, type WecomSettings, wecomSettings } from "./section.ts";

/** The WeCom AI Bot over its long connection. */
export const wecomPlatform: PlatformDefinition<WecomSettings> = {
  name: "wecom",
  description: "WeCom AI Bot (long connection)",
  // WeCom checks userids for uniqueness ignoring case (`ZhangSan` is `zhangsan`), and the
  // reference gateway compares them so.
  idsFoldCase: true,
  enabled: (config) => {
    const settings = wecomSettings(config);
    return settings.enabled ?? settings.bot_id !== undefined;
  },
  check(config) {
    const { bot_id, secret } = wecomSettings(config);
    if (!bot_id || !secret) {
      const missing = [!bot_id && "WECOM_BOT_ID", !secret && "WECOM_SECRET"].filter(Boolean);
      throw new ConfigError(
        `WeCom is on but ${missing.join(" and ")} ${
          missing.length > 1 ? "are" : "is"
        } not set: set WECOM_BOT_ID and WECOM_SECRET (or wecom.bot_id and wecom.secret), or wecom.enabled: false`,
      );
    }
  },
  create: async (context) => new (await import("./adapter.ts")).WecomAdapter(context),
};

registerPlatform(wecomPlatform, { section: wecomSection });
