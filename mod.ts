/**
 * hermes as a library: the pieces the CLI and the gateway are built from.
 * Only what is stable is exported here.
 *
 * @example
 * ```ts
 * import { hermesPaths, loadConfig, resolveHome } from "./mod.ts";
 * const paths = hermesPaths(resolveHome(Deno.env.toObject()));
 * const { config } = await loadConfig({ paths, env: Deno.env.toObject() });
 * ```
 *
 * @module
 */

// The built-in platforms register their settings sections (the schema includes `local:`).
import "./lib/platforms/builtin.ts";

export { ConfigError, HermesError, PlatformError, UsageError } from "./lib/errors.ts";
export { ExitCode } from "./lib/process/exit_codes.ts";
export { VERSION } from "./lib/version.ts";
export { ensureHome, hermesPaths, resolveHome } from "./lib/config/home.ts";
export type { HermesPaths } from "./lib/config/home.ts";
export { loadConfig } from "./lib/config/load.ts";
export type { LoadedConfig, LoadOptions, ValueSource } from "./lib/config/load.ts";
export {
  configJsonSchema,
  configSchema,
  configSections,
  parseConfig,
  registerSection,
} from "./lib/config/schema.ts";
export type { Config } from "./lib/config/schema.ts";
export { defineSection } from "./lib/config/section.ts";
export type { ConfigSection } from "./lib/config/section.ts";
export { writeFileAtomic, writeJsonAtomic } from "./lib/util/atomic_file.ts";
export type { AtomicWriteOptions } from "./lib/util/atomic_file.ts";
export { lineSink, Logger } from "./lib/util/log.ts";
export type { LogFormat, LoggerOptions, LogLevel, LogRecord, LogSink } from "./lib/util/log.ts";
export { rotatingFileSink } from "./lib/util/log_file.ts";
export { SecretMasker } from "./lib/util/secret_mask.ts";

// The platform contract: what a plugin platform implements (see README, Plugins).
export type {
  AdapterContext,
  Capabilities,
  ChatHistoryItem,
  ConfigData,
  PlatformAdapter,
  PlatformDefinition,
} from "./lib/platforms/adapter.ts";
export type {
  Attachment,
  ChatType,
  Json,
  MessageEvent,
  OutboundMessage,
  SendContext,
  SendResult,
  SessionSource,
} from "./lib/platforms/event.ts";
export { LinkHealthTracker } from "./lib/platforms/health.ts";
export type { LinkHealth, LinkState } from "./lib/platforms/health.ts";
