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

/**
 * Whether `host` is a loopback address (only this machine can connect).
 *
 * @example
 * ```ts
 * isLoopback("127.0.0.1"); // true
 * isLoopback("0.0.0.0");   // false
 * ```
 */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" ||
    /^127\.\d+\.\d+\.\d+$/.test(host);
}

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
