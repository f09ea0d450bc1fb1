/**
 * Reads a command line against the command tree: which command runs, with
 * which arguments and options, or that help or the version was asked for.
 * A mistake is a {@linkcode UsageError} (exit 2) whose hint names the help
 * to read and, where one is near, what was probably meant.
 *
 * @module
 */

import { UsageError } from "../lib/errors.ts";
import { editDistance, nearest } from "../lib/util/suggest.ts";
import { type ArgumentSpec, type CliCommand, InvalidValue, type OptionSpec } from "./command.ts";

/** What a command line asks for. */
export type CommandLine =
  | {
    readonly kind: "run";
    readonly command: CliCommand;
    /** One per declared argument: a string, undefined (optional, absent) or an array (variadic). */
    readonly args: unknown[];
    /** The command's own options. */
    readonly options: Record<string, unknown>;
    /** The options of every command on the path, merged. */
    readonly globals: Record<string, unknown>;
  }
  /** Help for `command`: asked for (stdout, exit 0), or a group named without a subcommand. */
  | { readonly kind: "help"; readonly command: CliCommand; readonly asked: boolean }
  | { readonly kind: "version" };

/** The flags every command understands. */
export const HELP_FLAGS = "-h, --help";

/**
 * Reads `argv` (without the program name). Options may come anywhere after
 * the command that declares them, `--opt=value` or `--opt value`; words after
 * `--` are arguments. A group's default subcommand takes the words and
 * options the group does not know.
 *
 * @example
 * ```ts
 * const line = parseCommandLine(program, ["pair", "approve", "ABCD2345"]);
 * if (line.kind === "run") await line.command.runAction?.(...line.args, line.options);
 * ```
 */
export function parseCommandLine(program: CliCommand, argv: readonly string[]): CommandLine {
  const reached = { command: program };
  try {
    return readCommandLine(program, argv, reached);
  } catch (error) {
    // `hermes sessions list --foo --help`: the help asked for wins over the mistake before it.
    if (error instanceof UsageError && asksForHelp(argv)) {
      return { kind: "help", command: reached.command, asked: true };
    }
    throw error;
  }
}

function readCommandLine(
  program: CliCommand,
  given: readonly string[],
  reached: { command: CliCommand },
): CommandLine {
  const argv = [...given];
  let command = program;
  const optionsOf = new Map<CliCommand, Record<string, unknown>>();
  const words: string[] = [];
  let onlyArguments = false;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    reached.command = command;
    if (!onlyArguments && word === "--") {
      onlyArguments = true;
      continue;
    }
    if (!onlyArguments && word.startsWith("-") && word !== "-") {
      if (word === "-h" || word === "--help") return { kind: "help", command, asked: true };
      if (word === "-V" || word === "--version") return { kind: "version" };
      if (/^-[A-Za-z]{2,}$/.test(word)) {
        // `-vq` is `-v -q`, as in commander and getopt (no short option takes a value).
        argv.splice(i, 1, ...[...word.slice(1)].map((letter) => `-${letter}`));
        i--;
        continue;
      }
      const [flag, inline] = splitInline(word);
      let found = findOption(command, flag);
      if (!found && words.length === 0 && command.defaultCommand) {
        found = findOption(command.defaultCommand, flag);
        if (found) command = command.defaultCommand;
      }
      if (!found) throw unknownOption(command, flag, argv.slice(i + 1));
      const [owner, spec] = found;
      let value: unknown = true;
      if (spec.valueName !== undefined) {
        const given = inline ?? argv[++i];
        if (given === undefined) {
          throw usage(command, `option '${spec.flags}' needs a value`);
        }
        value = readOptionValue(command, spec, given);
      } else if (inline !== undefined) {
        throw usage(command, `option '${spec.long}' takes no value, got '${inline}'`);
      }
      optionsOf.set(owner, { ...optionsOf.get(owner), [spec.key]: value });
      continue;
    }
    if (!onlyArguments && words.length === 0 && command.commands.length > 0) {
      const sub = command.commands.find((c) => c.name === word);
      if (sub) {
        command = sub;
        continue;
      }
      if (word === "help") {
        return { kind: "help", command: named(command, argv.slice(i + 1)), asked: true };
      }
      const fallback = command.defaultCommand;
      if (!fallback || fallback.arguments.length === 0) throw unknownCommand(command, word);
      command = fallback;
    }
    words.push(word);
  }
  reached.command = command;
  if (words.length === 0 && command.commands.length > 0) {
    if (command.defaultCommand) command = command.defaultCommand;
    else if (!command.runAction) return { kind: "help", command, asked: false };
  }
  const globals: Record<string, unknown> = {};
  for (let c: CliCommand | undefined = command; c; c = c.parent) {
    for (const [key, value] of Object.entries(optionsOf.get(c) ?? {})) {
      if (!(key in globals)) globals[key] = value;
    }
  }
  return {
    kind: "run",
    command,
    args: assignArguments(command, words),
    options: optionsOf.get(command) ?? {},
    globals,
  };
}

/** The command `path` names below `group` (`hermes help pair approve`), as far as it names one. */
function named(group: CliCommand, path: readonly string[]): CliCommand {
  let command = group;
  for (const word of path) {
    if (command.commands.length === 0) break; // `help send local:a`: the rest is send's, not a path
    const sub = command.commands.find((c) => c.name === word);
    if (!sub) throw unknownCommand(command, word);
    command = sub;
  }
  return command;
}

/** Whether `-h` or `--help` comes before any `--`. */
function asksForHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).some((w) => w === "-h" || w === "--help");
}

function splitInline(word: string): [string, string | undefined] {
  const at = word.indexOf("=");
  return word.startsWith("--") && at > 0
    ? [word.slice(0, at), word.slice(at + 1)]
    : [word, undefined];
}

/** The option `flag` names, declared by `command` or a command above it, with its owner. */
function findOption(command: CliCommand, flag: string): [CliCommand, OptionSpec] | undefined {
  for (let c: CliCommand | undefined = command; c; c = c.parent) {
    const spec = c.options.find((o) => o.long === flag || o.short === flag);
    if (spec) return [c, spec];
  }
  return undefined;
}

function readOptionValue(command: CliCommand, spec: OptionSpec, word: string): unknown {
  const what = `option '${spec.flags}' argument '${word}'`;
  if (spec.choices && !spec.choices.includes(word)) {
    throw usage(command, `${what} is invalid (choose ${listed(spec.choices)})`);
  }
  return parseWith(spec.parse, word, (reason) => usage(command, `${what} is invalid: ${reason}`));
}

function assignArguments(command: CliCommand, words: readonly string[]): unknown[] {
  const values: unknown[] = [];
  let next = 0;
  for (const spec of command.arguments) {
    if (spec.variadic) {
      const rest = words.slice(next);
      next = words.length;
      if (spec.required && rest.length === 0) throw missing(command, spec);
      for (const word of rest) checkChoice(command, spec, word);
      values.push(rest);
      continue;
    }
    const word = words[next];
    if (word === undefined) {
      if (spec.required) throw missing(command, spec);
      values.push(undefined);
      continue;
    }
    checkChoice(command, spec, word);
    values.push(word);
    next++;
  }
  if (next < words.length) {
    const takes = command.arguments.length;
    throw usage(
      command,
      `too many arguments for '${command.name}': it takes ${
        takes === 0 ? "none" : `at most ${takes}`
      }, got ${words.length} (${words.slice(next).map((w) => `'${w}'`).join(" ")} left over)`,
    );
  }
  return values;
}

function checkChoice(command: CliCommand, spec: ArgumentSpec, word: string): void {
  if (spec.choices && !spec.choices.includes(word)) {
    throw usage(
      command,
      `value '${word}' is invalid for argument '${spec.name}' (choose ${listed(spec.choices)})`,
    );
  }
}

function parseWith(
  parse: ((word: string) => unknown) | undefined,
  word: string,
  refused: (reason: string) => UsageError,
): unknown {
  if (!parse) return word;
  try {
    return parse(word);
  } catch (error) {
    if (error instanceof InvalidValue) throw refused(error.message);
    throw error;
  }
}

function missing(command: CliCommand, spec: ArgumentSpec): UsageError {
  return usage(command, `missing required argument '${spec.name}'`);
}

function unknownOption(command: CliCommand, flag: string, rest: readonly string[]): UsageError {
  // `hermes --json gateway status`: the option is known, but to a command named after it.
  const later = namedLater(command, rest);
  if (later !== command && findOption(later, flag)) {
    return new UsageError(
      `unknown option '${flag}' for '${command.path}'`,
      `'${flag}' belongs to '${later.path}': write it after the command. Run '${later.path} --help' to see the usage`,
    );
  }
  const known: string[] = [];
  for (let c: CliCommand | undefined = command; c; c = c.parent) {
    known.push(...c.options.map((o) => o.long));
  }
  if (command.defaultCommand) known.push(...command.defaultCommand.options.map((o) => o.long));
  known.push("--help");
  const guess = flag.startsWith("--") ? nearest(flag, known) : undefined;
  return usage(
    command,
    `unknown option '${flag}'`,
    guess && similar(flag, guess) ? guess : undefined,
  );
}

/** The deepest command the words after a mistake name below `command` (options skipped). */
function namedLater(command: CliCommand, rest: readonly string[]): CliCommand {
  let deepest = command;
  for (const word of rest) {
    if (word === "--") break;
    const sub = deepest.commands.find((c) => c.name === word);
    if (sub) deepest = sub;
  }
  return deepest;
}

/** Close enough to be worth a "did you mean": an abbreviation, or a few edits on a long enough name. */
function similar(word: string, guess: string): boolean {
  const [w, g] = [word.replace(/^--/, "").toLowerCase(), guess.replace(/^--/, "").toLowerCase()];
  if (w && g.startsWith(w)) return true;
  const distance = editDistance(w, g);
  return distance <= 3 && (g.length - distance) / g.length > 0.4;
}

function unknownCommand(group: CliCommand, word: string): UsageError {
  const guess = nearest(word, group.commands.filter((c) => !c.hidden).map((c) => c.name));
  return new UsageError(
    `unknown command '${word}'`,
    `${
      guess ? `did you mean '${group.path} ${guess}'? ` : ""
    }Run '${group.path} --help' to see the commands`,
  );
}

function usage(command: CliCommand, message: string, guess?: string): UsageError {
  return new UsageError(
    message,
    `${guess ? `did you mean ${guess}? ` : ""}Run '${command.path} --help' to see the usage`,
  );
}

function listed(choices: readonly string[]): string {
  return choices.length < 2
    ? choices.join("")
    : `${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}`;
}
