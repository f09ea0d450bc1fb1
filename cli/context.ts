/**
 * The context a command that works with the hermes home gets: paths, the
 * loaded configuration and a logger. Built on demand so that `--help` and
 * `--version` never read a file.
 *
 * @module
 */

import { ensureHome, type HermesPaths, hermesPaths, resolveHome } from "../lib/config/home.ts";
import type { LoadedConfig } from "../lib/config/load.ts";
import { lineSink, type LogFormat, Logger, type LogLevel } from "../lib/util/log.ts";
import type { CliIo } from "./io.ts";
import type { CommandUnknownOpts } from "@commander-js/extra-typings";

/** The options every command accepts (declared on the program). */
interface GlobalOptions {
  verbose?: boolean;
  quiet?: boolean;
  logFormat?: string;
  debug?: boolean;
}

/** What a command that works with the hermes home receives. */
export interface CommandContext {
  readonly paths: HermesPaths;
  readonly loaded: LoadedConfig;
  readonly log: Logger;
}

/**
 * Resolves the home, creates it on first use, loads the configuration, masks
 * its secrets in all output, and builds the logger (flags win over
 * `HERMES_LOG_LEVEL` and `logging.level`). Configuration warnings are logged.
 */
export async function openContext(io: CliIo, command: CommandUnknownOpts): Promise<CommandContext> {
  const options: GlobalOptions = command.optsWithGlobals();
  const paths = hermesPaths(resolveHome(io.env));
  await ensureHome(paths);
  const { loadConfig } = await import("../lib/config/load.ts");
  const loaded = await loadConfig({ paths, env: io.env });
  for (const secret of loaded.secrets) io.masker.add(secret);
  const log = createLogger(io, options, loaded);
  for (const warning of loaded.warnings) log.warn(warning);
  return { paths, loaded, log };
}

function createLogger(io: CliIo, options: GlobalOptions, loaded: LoadedConfig): Logger {
  const level: LogLevel = options.verbose
    ? "debug"
    : options.quiet
    ? "error"
    : loaded.config.logging.level;
  const configured = options.logFormat ?? loaded.config.logging.format;
  const format: LogFormat = configured === "auto"
    ? (io.stderrIsTerminal ? "human" : "json")
    : configured as LogFormat;
  const color = format === "human" && io.stderrIsTerminal && !io.env.NO_COLOR;
  return new Logger({ level, sinks: [lineSink(format, io.err)], masker: io.masker, color });
}
