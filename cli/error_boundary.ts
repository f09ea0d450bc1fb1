/**
 * The CLI's one error boundary: turns whatever ended a command into the line
 * (or two) a person reads and the exit code a script or supervisor acts on.
 *
 * @module
 */

import { CommanderError, type CommandUnknownOpts as Command } from "@commander-js/extra-typings";
import { HermesError, UsageError } from "../lib/errors.ts";
import { ExitCode } from "../lib/process/exit_codes.ts";
import { nearest } from "../lib/util/suggest.ts";
import type { CliIo } from "./io.ts";

/**
 * Prints `error` for a person and returns the exit code: 2 for usage errors
 * (with a hint), 78 for configuration errors, the error's own code for other
 * hermes errors, and 1 for anything unexpected (stack only with `debug`).
 */
export function reportError(
  error: unknown,
  context: { io: CliIo; program: Command; argv: readonly string[]; debug: boolean },
): number {
  const { io } = context;
  if (error instanceof CommanderError) return reportCommanderError(error, context);
  if (error instanceof UsageError) {
    io.err(`hermes: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ""}`);
    return error.exitCode;
  }
  if (error instanceof HermesError) {
    io.err(`hermes: ${error.message}\n`);
    for (const hint of error.hints) io.err(`hint: ${hint}\n`);
    if (context.debug && error.stack) io.err(`${error.stack}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.err(`hermes: unexpected error: ${firstLine(message)}\n`);
  if (context.debug) io.err(`${error instanceof Error ? error.stack : message}\n`);
  else io.err("hint: run again with --debug to see the stack trace\n");
  return ExitCode.Crash;
}

function reportCommanderError(
  error: CommanderError,
  { io, program, argv }: { io: CliIo; program: Command; argv: readonly string[] },
): number {
  switch (error.code) {
    case "commander.helpDisplayed":
    case "commander.version":
      return ExitCode.Ok;
    case "commander.help": // a command group run without a subcommand: help went to stderr
      return ExitCode.Usage;
    case "commander.unknownCommand": {
      const name = /'([^']*)'/.exec(error.message)?.[1] ?? "";
      return reportUnknownCommand(io, commandOwning(program, argv, name), name);
    }
    case "commander.excessArguments":
    case "commander.unknownOption": {
      // `hermes gateway stauts [--json]`: the group handed the words to its
      // default subcommand (`run`), which the user did not type, and that
      // refused them; a first word that is no option is a mistyped
      // subcommand of the group.
      const group = commandOwning(program, argv, "");
      const word = defaultSubcommand(group)?.args[0];
      if (word !== undefined && !word.startsWith("-")) {
        return reportUnknownCommand(io, group, word);
      }
      return reportUsage(error, io, program, argv);
    }
    default:
      return reportUsage(error, io, program, argv);
  }
}

function reportUnknownCommand(io: CliIo, parent: Command, name: string): number {
  const candidates = parent.commands.filter((c) => !isHidden(c)).map((c) => c.name());
  const guess = nearest(name, candidates);
  const path = commandPath(parent);
  io.err(`hermes: unknown command '${name}'\n`);
  io.err(
    `hint: ${
      guess ? `did you mean '${path} ${guess}'? ` : ""
    }Run '${path} --help' to see the commands\n`,
  );
  return ExitCode.Usage;
}

function reportUsage(
  error: CommanderError,
  io: CliIo,
  program: Command,
  argv: readonly string[],
): number {
  const [head, ...rest] = error.message.replace(/^error: /, "").split("\n");
  const suggestion = rest.join(" ").match(/\(Did you mean (.*)\?\)/)?.[1];
  io.err(`hermes: ${head}\n`);
  const path = commandPath(commandOwning(program, argv, ""));
  io.err(
    `hint: ${
      suggestion ? `did you mean ${suggestion}? ` : ""
    }Run '${path} --help' to see the usage\n`,
  );
  return ExitCode.Usage;
}

/** The deepest command named by `argv` before `stop` (the unknown word). */
function commandOwning(program: Command, argv: readonly string[], stop: string): Command {
  let current: Command = program;
  for (const word of argv) {
    if (word === stop) break;
    const next = current.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (next) current = next;
  }
  return current;
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** The subcommand `command` runs when none is named (`gateway` → `run`), if it has one. */
function defaultSubcommand(command: Command): Command | undefined {
  const name = (command as unknown as { _defaultCommandName?: string | null })._defaultCommandName;
  return name ? command.commands.find((c) => c.name() === name) : undefined;
}

function isHidden(command: Command): boolean {
  return (command as unknown as { _hidden?: boolean })._hidden === true;
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
