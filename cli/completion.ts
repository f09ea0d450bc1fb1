/**
 * `hermes completion <shell>` and the hidden `hermes complete -- WORDS`:
 * shell completion through `@bomb.sh/tab`, which is loaded only when one of
 * them runs, so that no other command pays for it at start.
 *
 * @module
 */

import type { RootCommand } from "@bomb.sh/tab";
import type { CliCommand } from "./command.ts";

const SHELLS = ["zsh", "bash", "fish", "powershell"] as const;

/**
 * Adds `completion` (prints the script a shell sources) and the hidden
 * `complete` (what that script calls for live completions) to `program`.
 *
 * @example
 * ```ts
 * const program = new CliCommand("hermes");
 * registerCompletionCommands(program);
 * ```
 */
export function registerCompletionCommands(program: CliCommand): void {
  program.command("completion")
    .description("Print a shell completion script (bash, zsh, fish or powershell)")
    .argument("<shell>", "the shell to complete for", SHELLS)
    .action(async (shell) => {
      (await completionTree(program)).setup(program.name, program.name, shell);
    });
  program.command("complete", { hidden: true })
    .description("Print the completions of a partial command line (the shell script asks)")
    .argument("[words...]", "the words typed so far, after --")
    .action(async (words) => {
      (await completionTree(program)).parse(words);
    });
}

/** tab's completion tree, filled with every visible command, option and argument of `program`. */
async function completionTree(program: CliCommand): Promise<RootCommand> {
  const { default: root } = await import("@bomb.sh/tab");
  const visit = (command: CliCommand, path: string) => {
    const node = path ? root.command(path, command.summary) : root;
    for (const option of command.options) {
      const long = option.long.slice(2);
      const short = option.short?.slice(1);
      const values = option.choices;
      if (option.valueName === undefined) {
        short
          ? node.option(long, option.description, short)
          : node.option(long, option.description);
      } else {
        node.option(long, option.description, (complete) => {
          for (const value of values ?? []) complete(value, "");
        }, short);
      }
    }
    for (const argument of command.arguments) {
      const values = argument.choices;
      node.argument(
        argument.name,
        values ? (complete) => values.forEach((value) => complete(value, "")) : undefined,
        argument.variadic,
      );
    }
    for (const sub of command.commands) {
      if (!sub.hidden) visit(sub, path ? `${path} ${sub.name}` : sub.name);
    }
  };
  visit(program, "");
  return root;
}
