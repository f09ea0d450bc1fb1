/**
 * `hermes`: the command-line program. Builds the command tree, runs one
 * command, and maps whatever ended it to an exit code in one error boundary.
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import { VERSION } from "../lib/version.ts";
import {
  type CompletionAdapter,
  loadCompletion,
  registerCompletionCommands,
} from "./completion.ts";
import { registerConfigCommands } from "./config.ts";
import { registerGatewayCommands } from "./gateway.ts";
import { registerPairCommands } from "./pair.ts";
import { registerSendCommand } from "./send.ts";
import { registerSessionCommands } from "./sessions.ts";
import { registerWecomCommands } from "./wecom.ts";
import { registerWeixinCommands } from "./weixin.ts";
import { reportError } from "./error_boundary.ts";
import { type CliIo, processIo } from "./io.ts";

/**
 * Builds the `hermes` command tree writing through `io`; `completion` is
 * tab's when its adapter is given (see {@linkcode loadCompletion}), else a
 * stand-in for help.
 *
 * @example
 * ```ts
 * const program = buildProgram(processIo());
 * await program.parseAsync(["config", "path"], { from: "user" });
 * ```
 */
export function buildProgram(io: CliIo, completion?: CompletionAdapter) {
  const program = new Command("hermes")
    .description("Link an AI agent to the chat platforms people live in")
    .version(`hermes ${VERSION}`, "-V, --version", "print the version")
    .option("-v, --verbose", "log debug detail")
    .option("-q, --quiet", "log errors only")
    .addOption(
      new Option(
        "--log-format <format>",
        "log line format (default: human on a terminal, else json)",
      )
        .choices(["human", "json"]),
    )
    .option("--debug", "print stack traces of unexpected errors")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      outputError: () => {}, // the error boundary prints errors, once, in hermes' words
    })
    .showHelpAfterError(false);

  registerGatewayCommands(program, io);
  registerPairCommands(program, io);
  registerSessionCommands(program, io);
  registerSendCommand(program, io);
  registerWecomCommands(program, io);
  registerWeixinCommands(program, io);
  registerConfigCommands(program, io);
  registerCompletionCommands(program, completion);
  return program;
}

/**
 * Runs `hermes` with `argv` (without the program name) and returns the exit code.
 *
 * @example
 * ```ts
 * const code = await main(["config", "check"]);
 * ```
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io, await loadCompletion(argv));
  try {
    await program.parseAsync([...argv], { from: "user" });
    return io.exitCode;
  } catch (error) {
    return reportError(error, { io, program, argv, debug: argv.includes("--debug") });
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
