/**
 * A configuration section: one top-level key of config.yaml (`gateway`,
 * `logging`, later one per platform), with its zod schema, the environment
 * variables that set its keys, and which keys hold secrets. Each built-in
 * platform owns its section and registers it with its platform.
 *
 * @module
 */

import type { z } from "zod";

/** One top-level section of the configuration. */
export interface ConfigSection<Schema extends z.ZodObject = z.ZodObject> {
  /** The top-level key in config.yaml, e.g. `gateway`. */
  readonly key: string;
  /** The section's schema; every key has a default or is optional. */
  readonly schema: Schema;
  /** Environment variable name → dotted key path inside the section. */
  readonly env: Readonly<Record<string, string>>;
  /** Dotted key paths inside the section whose values are secrets. */
  readonly secrets: readonly string[];
}

/**
 * Declares a section; a typed identity function so that sections read alike.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * const gateway = defineSection({
 *   key: "gateway",
 *   schema: z.object({ drain_timeout: z.number().default(180) }),
 *   env: { GATEWAY_DRAIN_TIMEOUT: "drain_timeout" },
 *   secrets: [],
 * });
 * ```
 */
export function defineSection<Schema extends z.ZodObject>(
  section: ConfigSection<Schema>,
): ConfigSection<Schema> {
  return section;
}
