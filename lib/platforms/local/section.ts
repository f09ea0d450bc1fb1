/**
 * The `local` section of config.yaml: the built-in web chat and
 * OpenAI-compatible API.
 *
 * @module
 */

import { z } from "zod";
import { defineSection } from "../../config/section.ts";
import { accessEnv, accessFields } from "../../auth/access_settings.ts";

/** Settings of the local platform. */
export const localSection = defineSection({
  key: "local",
  schema: z.object({
    enabled: z.boolean().optional().describe(
      "Serve the web chat and API; unset means on when no other platform is configured",
    ),
    host: z.string().min(1).default("127.0.0.1").describe(
      "Address to listen on; anything but loopback requires api_key",
    ),
    port: z.number().int().min(0).max(65535).default(8642).describe(
      "TCP port (0 picks a free one)",
    ),
    allowed_hosts: z.array(z.string().min(1)).default([]).describe(
      "Host names clients may reach the server by besides its address and localhost (a reverse proxy's name; '.example.com' covers subdomains)",
    ),
    api_key: z.string().min(1).optional().describe(
      "Bearer key clients must send (required off loopback)",
    ),
    max_body_bytes: z.number().int().min(1024).default(1024 * 1024).describe(
      "Largest request body accepted",
    ),
    ...accessFields,
  }),
  env: {
    LOCAL_ENABLED: "enabled",
    LOCAL_HOST: "host",
    LOCAL_PORT: "port",
    LOCAL_API_KEY: "api_key",
    LOCAL_ALLOWED_HOSTS: "allowed_hosts",
    ...accessEnv("local"),
  },
  secrets: ["api_key"],
});

/** The local platform's settings, validated and with defaults. */
export type LocalSettings = z.output<typeof localSection.schema>;

/**
 * The local section of a validated configuration.
 *
 * @example
 * ```ts
 * localSettings({ local: { host: "127.0.0.1", port: 8642 } }).port; // 8642
 * ```
 */
export function localSettings(config: Readonly<Record<string, unknown>>): LocalSettings {
  return config.local as LocalSettings;
}
