/**
 * Registers the local platform: on by default when no other platform is
 * configured; off loopback only with an API key.
 *
 * @module
 */

import { ConfigError } from "../../errors.ts";
import type { PlatformDefinition } from "../adapter.ts";
import { registerPlatform } from "../registry.ts";
import { isLoopback } from "./_loopback.ts";
import { localSection, type LocalSettings, localSettings } from "./section.ts";

/** The local web chat and OpenAI-compatible API. */
export const localPlatform: PlatformDefinition<LocalSettings> = {
  name: "local",
  description: "web chat and OpenAI-compatible API over HTTP",
  // A local user is the name the client gives, kept apart by case in sessions and
  // transcripts (`Alice` and `alice` are two conversations), so access compares it exactly.
  idsFoldCase: false,
  enabled: (config, _env, othersEnabled) => localSettings(config).enabled ?? !othersEnabled,
  check(config) {
    const { host, api_key } = localSettings(config);
    if (!isLoopback(host) && !api_key) {
      throw new ConfigError(
        `Cannot serve the local platform on ${host} without an API key: anyone who can reach it could use the agent; set LOCAL_API_KEY (or local.api_key), or local.host: 127.0.0.1`,
      );
    }
  },
  // The server, the page and markdown-it load only when a gateway starts the platform.
  create: async (context) => new (await import("./adapter.ts")).LocalAdapter(context),
};

registerPlatform(localPlatform, { section: localSection });
