/**
 * The configuration schema: the core sections, plus one section per
 * built-in platform, which the platform registers when its module is
 * imported (through the platform registry), composed into one zod object.
 * This folder names no platform.
 *
 * @module
 */

import { z } from "zod";
import { type ConfigSection, defineSection } from "./section.ts";
import { LOG_LEVELS } from "../util/log.ts";
import { agentSection } from "../agent/section.ts";
import { sessionsSection } from "../sessions/section.ts";
import { postgresUrlProblem } from "../storage/database_url.ts";

/** Settings of the gateway process. */
export const gatewaySection = defineSection({
  key: "gateway",
  schema: z.object({
    drain_timeout: z.number().positive().default(180).describe(
      "Seconds a stopping gateway waits for in-flight agent turns before marking them for resume",
    ),
    connect_timeout: z.number().positive().default(30).describe(
      "Seconds one platform may take to connect before it is retried in the background",
    ),
    stream_edit_interval: z.number().min(0).default(1).describe(
      "Seconds between progressive edits of a streamed reply (platforms that can edit)",
    ),
    stream_buffer_chars: z.number().int().min(1).default(40).describe(
      "New characters needed before the next progressive edit",
    ),
    delivery_deadline: z.number().positive().default(86_400).describe(
      "Seconds a reply part may wait to be delivered (retries, deferrals) before it is undeliverable",
    ),
    journal_retention_days: z.number().positive().default(7).describe(
      "Days finished inbound journal entries and sent or given-up reply parts are kept",
    ),
    allow_all_users: z.boolean().default(false).describe(
      "Confirms open access policies on every platform: anyone who finds a bot may use the agent",
    ),
    lease_ttl_seconds: z.number().int().min(3).max(3600).default(45).describe(
      "On storage.backend postgres: seconds a gateway's lease of a bot lasts unless renewed (every third of it); a dead gateway's bots are taken over after it",
    ),
    max_bots: z.number().int().min(1).optional().describe(
      "On storage.backend postgres: most bots this gateway serves at once; the others wait on standby for a gateway of the pool with room (default: no limit)",
    ),
  }),
  env: {
    HERMES_LEASE_TTL_SECONDS: "lease_ttl_seconds",
    HERMES_MAX_BOTS: "max_bots",
    GATEWAY_DRAIN_TIMEOUT: "drain_timeout",
    GATEWAY_CONNECT_TIMEOUT: "connect_timeout",
    GATEWAY_DELIVERY_DEADLINE: "delivery_deadline",
    GATEWAY_ALLOW_ALL_USERS: "allow_all_users",
  },
  secrets: [],
});

/** Settings of logging. */
export const loggingSection = defineSection({
  key: "logging",
  schema: z.object({
    level: z.enum(LOG_LEVELS).default("info").describe("Lowest level written"),
    format: z.enum(["auto", "human", "json"]).default("auto").describe(
      "Line format on stderr: auto is human on a terminal and JSON lines otherwise",
    ),
    max_file_bytes: z.number().int().min(4096).default(10 * 1024 * 1024).describe(
      "Size at which logs/gateway.log is rotated",
    ),
    max_files: z.number().int().min(0).max(100).default(5).describe(
      "Rotated log files kept besides the live one",
    ),
  }),
  env: {
    HERMES_LOG_LEVEL: "level",
    HERMES_LOG_FORMAT: "format",
    HERMES_LOG_MAX_FILE_BYTES: "max_file_bytes",
    HERMES_LOG_MAX_FILES: "max_files",
  },
  secrets: [],
});

/** Settings of the state store: `state.db` (SQLite, the default) or a shared PostgreSQL database. */
export const storageSection = defineSection({
  key: "storage",
  schema: z.object({
    backend: z.enum(["sqlite", "postgres"]).default("sqlite").describe(
      "Where the state lives: sqlite (state.db in the home, one machine) or postgres (storage.url, shared by gateways on several hosts)",
    ),
    url: z.string().optional().describe(
      "The PostgreSQL database of storage.backend postgres: postgres://user:password@host:5432/database",
    ),
    pool_max: z.number().int().min(1).max(100).default(10).describe(
      "Connections to PostgreSQL at most, per gateway",
    ),
    synchronous: z.enum(["full", "normal"]).default("full").describe(
      "SQLite's fsync policy: full (nothing accepted is lost, even at a power cut) or normal (faster; a power cut or OS crash may lose the last commits, a killed process never)",
    ),
  }).superRefine((storage, ctx) => {
    if (storage.backend !== "postgres") return;
    const problem = postgresUrlProblem(storage.url);
    if (problem) ctx.addIssue({ code: "custom", path: ["url"], message: problem });
  }),
  env: {
    HERMES_STORAGE_SYNCHRONOUS: "synchronous",
    HERMES_STORAGE_BACKEND: "backend",
    HERMES_DATABASE_URL: "url",
  },
  secrets: ["url"],
});

/** The sections every configuration has, in the order `config show` lists them. */
const CORE_SECTIONS: readonly ConfigSection[] = [
  gatewaySection,
  loggingSection,
  storageSection,
  agentSection,
  sessionsSection,
];

/** Sections platforms added, in registration order. */
const registered: ConfigSection[] = [];
let composed: z.ZodObject | undefined;

const coreShape = {
  gateway: gatewaySection.schema.prefault({}),
  logging: loggingSection.schema.prefault({}),
  storage: storageSection.schema.prefault({}),
  agent: agentSection.schema.prefault({}),
  sessions: sessionsSection.schema.prefault({}),
  plugins: z.array(z.string().min(1)).default([]).describe(
    "Modules (paths relative to the home) that export more platforms",
  ),
  platforms: z.record(z.string(), z.record(z.string(), z.unknown())).default({}).describe(
    "Settings of plugin platforms, one mapping per platform name",
  ),
};
const coreSchema = z.object(coreShape);

/**
 * The validated, defaults-applied configuration: the core sections typed,
 * each platform's section under its key (read it with that section's type).
 */
export type Config = z.output<typeof coreSchema> & { readonly [section: string]: unknown };

/**
 * Adds a platform's section (`local`, ...); the same section twice is a
 * no-op, another section under a taken key is refused.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineSection } from "./section.ts";
 * registerSection(defineSection({ key: "matrix", schema: z.object({}), env: {}, secrets: [] }));
 * ```
 */
export function registerSection(section: ConfigSection): void {
  const existing = configSections().find((s) => s.key === section.key);
  if (existing === section) return;
  if (existing || section.key in coreShape) {
    throw new Error(`Cannot register config section "${section.key}": the key is taken`);
  }
  registered.push(section);
  composed = undefined;
}

/** Every section: the core ones, then those platforms registered. */
export function configSections(): readonly ConfigSection[] {
  return [...CORE_SECTIONS, ...registered];
}

/** The whole configuration schema: one optional object per section. */
export function configSchema(): z.ZodObject {
  composed ??= z.object({
    ...coreShape,
    ...Object.fromEntries(registered.map((s) => [s.key, s.schema.prefault({})])),
  });
  return composed;
}

/**
 * Validates a configuration tree (as `loadConfig` does after layering).
 *
 * @example
 * ```ts
 * parseConfig({ gateway: { drain_timeout: 60 } }).gateway.drain_timeout; // 60
 * ```
 */
export function parseConfig(tree: unknown): Config {
  return configSchema().parse(tree) as Config;
}

/**
 * The JSON Schema of config.yaml, for editors (`hermes config schema`).
 *
 * @example
 * ```ts
 * const schema = configJsonSchema();
 * schema.properties; // { gateway: {...}, logging: {...} }
 * ```
 */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema(), { io: "input", unrepresentable: "any" }),
    title: "hermes config.yaml",
    description: "Configuration of the hermes gateway ($HERMES_HOME/config.yaml)",
  };
}
