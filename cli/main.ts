/**
 * `hermes`: the command-line program. Builds the command tree, runs one
 * command, and maps whatever ended it to an exit code in one error boundary.
 *
 * @module
 */

import { ExitCode } from "../lib/process/exit_codes.ts";
import { VERSION } from "../lib/version.ts";
import { CliCommand } from "./command.ts";
import { parseCommandLine } from "./command_line.ts";
import { registerCompletionCommands } from "./completion.ts";
import { registerConfigCommands } from "./config.ts";
import { registerGatewayCommands } from "./gateway.ts";
import { helpText } from "./help.ts";
import { registerPairCommands } from "./pair.ts";
import { registerSendCommand } from "./send.ts";
import { registerSessionCommands } from "./sessions.ts";
import { registerWecomCommands } from "./wecom.ts";
import { registerWeixinCommands } from "./weixin.ts";
import { reportError } from "./error_boundary.ts";
import { type CliIo, processIo } from "./io.ts";

/**
 * Builds the `hermes` command tree whose commands write through `io`.
 *
 * @example
 * ```ts
 * const program = buildProgram(processIo());
 * console.log(program.commands.map((c) => c.name));
 * ```
 */
export function buildProgram(io: CliIo): CliCommand {
  const program = new CliCommand("hermes");
  program.description("Link an AI agent to the chat platforms people live in")
    .option("-V, --version", "print the version")
    .option("-v, --verbose", "log debug detail")
    .option("-q, --quiet", "log errors only")
    .option(
      "--log-format <format>",
      "log line format (default: human on a terminal, else json)",
      ["human", "json"],
    )
    .option("--debug", "print stack traces of unexpected errors");
  registerGatewayCommands(program, io);
  registerPairCommands(program, io);
  registerSessionCommands(program, io);
  registerSendCommand(program, io);
  registerWecomCommands(program, io);
  registerWeixinCommands(program, io);
  registerConfigCommands(program, io);
  registerCompletionCommands(program);
  return program;
}

/**
 * Runs `hermes` with `argv` (without the program name) and returns the exit
 * code: help and the version exit 0, a group named without a subcommand
 * prints its help on stderr and exits 2.
 *
 * @example
 * ```ts
 * const code = await main(["config", "check"]);
 * ```
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  try {
    const line = parseCommandLine(buildProgram(io), argv);
    if (line.kind === "version") {
      io.out(`hermes ${VERSION}\n`);
      return ExitCode.Ok;
    }
    if (line.kind === "help") {
      (line.asked ? io.out : io.err)(helpText(line.command, io.columns));
      return line.asked ? ExitCode.Ok : ExitCode.Usage;
    }
    await line.command.runAction?.(...line.args, line.options, line);
    return io.exitCode;
  } catch (error) {
    return reportError(error, { io, debug: argv.includes("--debug") });
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
