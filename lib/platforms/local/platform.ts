/**
 * Registers the local platform: on by default when no other platform is
 * configured; off loopback only with an API key.
 *
 * @module
 */

import { ConfigError } from "../../errors.ts";
import type { PlatformDefinition } from "../adapter.ts";
import { registerPlatform } from "../registry.ts";
import { LocalAdapter } from "./adapter.ts";
import { isLoopback } from "./_loopback.ts";

/** The local web chat and OpenAI-compatible API. */
export const localPlatform: PlatformDefinition = {
  name: "local",
  description: "web chat and OpenAI-compatible API over HTTP",
  enabled: (config, _env, othersEnabled) => config.local.enabled ?? !othersEnabled,
  check(config) {
    const { host, api_key } = config.local;
    if (!isLoopback(host) && !api_key) {
      throw new ConfigError(
        `Cannot serve the local platform on ${host} without an API key: anyone who can reach it could use the agent; set LOCAL_API_KEY (or local.api_key), or local.host: 127.0.0.1`,
      );
    }
  },
  create: (context) => new LocalAdapter(context),
};

registerPlatform(localPlatform);
