/**
 * The help text of a command: its usage line, description, arguments,
 * options and subcommands, with descriptions wrapped to fit a terminal.
 *
 * @module
 */

import type { CliCommand } from "./command.ts";
import { HELP_FLAGS } from "./command_line.ts";

const HELP_DESCRIPTION = "show this help";

/**
 * The help `hermes … --help` prints for `command`, wrapped to `width`
 * columns (the terminal's; 80 when the output is no terminal).
 *
 * @example
 * ```ts
 * console.log(helpText(program.commands[0]!));
 * ```
 */
export function helpText(command: CliCommand, width = 80): string {
  const sections = [`Usage: ${command.path} ${usageTail(command)}`];
  if (command.summary) sections.push(command.summary);
  if (command.arguments.length > 0) {
    sections.push(listing(
      width,
      "Arguments:",
      command.arguments.map((a) => [a.name, withChoices(a.description, a.choices)]),
    ));
  }
  sections.push(listing(width, "Options:", [
    ...command.options.map((o) => [o.flags, withChoices(o.description, o.choices)] as const),
    [HELP_FLAGS, HELP_DESCRIPTION],
  ]));
  const visible = command.commands.filter((c) => !c.hidden);
  if (visible.length > 0) {
    sections.push(listing(width, "Commands:", [
      ...visible.map((c) => [commandTerm(c), c.summary] as const),
      ["help [command]", "show the help of a command"],
    ]));
  }
  return `${sections.join("\n\n")}\n`;
}

function withChoices(description: string, choices: readonly string[] | undefined): string {
  return choices ? `${description} (${choices.join(", ")})` : description;
}

function usageTail(command: CliCommand): string {
  if (command.commands.length > 0) return "[options] [command]";
  return ["[options]", ...command.arguments.map(argumentTerm)].join(" ");
}

function commandTerm(command: CliCommand): string {
  const tail = command.commands.length > 0 ? " [command]" : "";
  return [command.name + tail, ...command.arguments.map(argumentTerm)].join(" ");
}

function argumentTerm(argument: CliCommand["arguments"][number]): string {
  const name = `${argument.name}${argument.variadic ? "..." : ""}`;
  return argument.required ? `<${name}>` : `[${name}]`;
}

function listing(
  width: number,
  title: string,
  rows: ReadonlyArray<readonly [string, string]>,
): string {
  const termWidth = Math.max(...rows.map(([term]) => term.length));
  const lines = rows.map(([term, text]) => {
    const indent = 2 + termWidth + 2;
    return `  ${term.padEnd(termWidth)}  ${
      wrap(text, width - indent).join(`\n${" ".repeat(indent)}`)
    }`
      .trimEnd();
  });
  return [title, ...lines].join("\n");
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > Math.max(width, 30)) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}
