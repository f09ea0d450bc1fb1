/**
 * The CLI's one error boundary: turns whatever ended a command into the line
 * (or two) a person reads and the exit code a script or supervisor acts on.
 *
 * @module
 */

import { HermesError, UsageError } from "../lib/errors.ts";
import { ExitCode } from "../lib/process/exit_codes.ts";
import type { CliIo } from "./io.ts";

/**
 * Prints `error` for a person and returns the exit code: 2 for usage errors
 * (with a hint), 78 for configuration errors, the error's own code for other
 * hermes errors, and 1 for anything unexpected (stack only with `debug`).
 */
export function reportError(
  error: unknown,
  context: { io: CliIo; debug: boolean },
): number {
  const { io } = context;
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

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
