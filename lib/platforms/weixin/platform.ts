/**
 * Registers the Weixin platform: on when an account id is configured.
 *
 * @module
 */

import { resolveHome } from "../../config/home.ts";
import { ConfigError } from "../../errors.ts";
import type { PlatformDefinition } from "../adapter.ts";
import { registerPlatform } from "../registry.ts";
import { accountFile, weixinStateDir } from "./accounts.ts";
import { weixinSection, type WeixinSettings, weixinSettings } from "./section.ts";

/** Personal WeChat through the iLink bot API. */
export const weixinPlatform: PlatformDefinition<WeixinSettings> = {
  name: "weixin",
  description: "Weixin (iLink bot API, long polling)",
  // iLink ids (`o9cq8…@im.wechat`, `…@chatroom`) are opaque and case-sensitive.
  idsFoldCase: false,
  enabled: (config) => {
    const settings = weixinSettings(config);
    return settings.enabled ?? settings.account_id !== undefined;
  },
  check(config, env) {
    const { account_id: accountId, token } = weixinSettings(config);
    if (!accountId) {
      throw new ConfigError(
        "Weixin is on but WEIXIN_ACCOUNT_ID is not set: run `hermes weixin login` and set WEIXIN_ACCOUNT_ID (weixin.account_id) to the id it printed, or weixin.enabled: false",
      );
    }
    if (token) return;
    const path = accountFile(weixinStateDir(resolveHome(env)), accountId);
    try {
      Deno.statSync(path);
    } catch {
      throw new ConfigError(
        `Weixin has no token for ${accountId}: no WEIXIN_TOKEN and no account file ${path}; run \`hermes weixin login\` (or set WEIXIN_TOKEN)`,
      );
    }
  },
  create: async (context) => new (await import("./adapter.ts")).WeixinAdapter(context),
};

registerPlatform(weixinPlatform, { section: weixinSection });
