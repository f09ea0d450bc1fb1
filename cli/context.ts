/**
 * The context a command that works with the hermes home gets: paths, the
 * loaded configuration and a logger. Built on demand so that `--help` and
 * `--version` never read a file.
 *
 * @module
 */

import { ensureHome, type HermesPaths, hermesPaths, resolveHome } from "../lib/config/home.ts";
import type { LoadedConfig } from "../lib/config/load.ts";
import {
  lineSink,
  LOG_LEVELS,
  type LogFormat,
  Logger,
  type LogLevel,
  type LogSink,
} from "../lib/util/log.ts";
import type { CliIo } from "./io.ts";
import type { Invocation } from "./command.ts";

/** The options every command accepts (declared on the program). */
interface GlobalOptions {
  verbose?: boolean;
  quiet?: boolean;
  logFormat?: string;
  debug?: boolean;
}

/** What a command that works with the hermes home, without its configuration, receives. */
export interface HomeContext {
  readonly paths: HermesPaths;
  readonly log: Logger;
  /** The standard-error sink, whose format the configuration may still change. */
  readonly stderrSink: { format: LogFormat };
}

/** What a command that works with the hermes home and its configuration receives. */
export interface CommandContext extends HomeContext {
  readonly loaded: LoadedConfig;
}

/**
 * Resolves the home, creates it on first use, and builds a logger from the
 * flags and the environment only. For commands that must work even when the
 * configuration is broken (`gateway stop`, `gateway status`).
 */
export async function openHome(io: CliIo, invocation: Invocation): Promise<HomeContext> {
  const options = globalOptions(invocation);
  const paths = hermesPaths(resolveHome(io.env));
  await ensureHome(paths);
  const level = flagLevel(options) ?? envChoice(io.env.HERMES_LOG_LEVEL, LOG_LEVELS) ?? "info";
  const format = resolveFormat(io, options.logFormat ?? io.env.HERMES_LOG_FORMAT ?? "auto");
  const color = format === "human" && io.stderrIsTerminal && !io.env.NO_COLOR;
  const stderrSink = lineSink(format, io.err) as LogSink & { format: LogFormat };
  const log = new Logger({ level, sinks: [stderrSink], masker: io.masker, color });
  return { paths, log, stderrSink };
}

/**
 * Loads the configuration of an opened home: masks its secrets in all output,
 * applies `logging.level` unless a flag chose the level, and logs its warnings.
 */
export async function loadHomeConfig(
  io: CliIo,
  invocation: Invocation,
  home: HomeContext,
): Promise<LoadedConfig> {
  // Loaded only here, so that status and stop start fast; the built-in
  // platforms bring their settings sections (`local:`) to the schema.
  const [{ loadConfig }] = await Promise.all([
    import("../lib/config/load.ts"),
    import("../lib/platforms/builtin.ts"),
  ]);
  const loaded = await loadConfig({ paths: home.paths, env: io.env });
  for (const secret of loaded.secrets) io.masker.add(secret);
  const options = globalOptions(invocation);
  if (!flagLevel(options)) home.log.setLevel(loaded.config.logging.level);
  if (!options.logFormat) home.stderrSink.format = resolveFormat(io, loaded.config.logging.format);
  for (const warning of loaded.warnings) home.log.warn(warning);
  return loaded;
}

/**
 * Resolves the home, creates it on first use, loads the configuration, masks
 * its secrets in all output, and builds the logger (flags win over
 * `HERMES_LOG_LEVEL` and `logging.level`). Configuration warnings are logged.
 */
export async function openContext(io: CliIo, invocation: Invocation): Promise<CommandContext> {
  const home = await openHome(io, invocation);
  const loaded = await loadHomeConfig(io, invocation, home);
  return { ...home, loaded };
}

/** The program's options, as given anywhere on the command line. */
function globalOptions({ globals }: Invocation): GlobalOptions {
  return {
    verbose: globals.verbose === true,
    quiet: globals.quiet === true,
    logFormat: typeof globals.logFormat === "string" ? globals.logFormat : undefined,
    debug: globals.debug === true,
  };
}

function flagLevel(options: GlobalOptions): LogLevel | undefined {
  return options.verbose ? "debug" : options.quiet ? "error" : undefined;
}

function envChoice<T extends string>(
  value: string | undefined,
  choices: readonly T[],
): T | undefined {
  return choices.find((choice) => choice === value?.trim().toLowerCase());
}

function resolveFormat(io: CliIo, configured: string): LogFormat {
  if (configured === "human" || configured === "json") return configured;
  return io.stderrIsTerminal ? "human" : "json";
}
