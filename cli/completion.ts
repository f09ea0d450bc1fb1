/**
 * `hermes completion <shell>` and the hidden `hermes complete -- WORDS`:
 * shell completion through `@bomb.sh/tab`, loaded only when `argv` names one
 * of them, so that no other command pays for it at start.
 *
 * @module
 */

import { Argument, type Command } from "@commander-js/extra-typings";
import type { Command as PlainCommand } from "commander";

/** `@bomb.sh/tab`'s commander adapter: adds `completion` and the hidden `complete`. */
export type CompletionAdapter = typeof import("@bomb.sh/tab/commander").default;

const DESCRIPTION = "Print a shell completion script (bash, zsh, fish or powershell)";
// As tab's adapter declares it, so that `hermes --help` reads the same either way.
const SHELL_ARGUMENT = ["<shell>", "Shell type for completion script"] as const;
const SHELLS = ["zsh", "bash", "fish", "powershell"];

/**
 * The completion adapter when `argv` may run a completion command, else
 * undefined. A command runs only when its name is in `argv`, so any word
 * `completion` or `complete` loads it (at worst needlessly).
 *
 * @example
 * ```ts
 * const adapter = await loadCompletion(["completion", "bash"]);
 * ```
 */
export async function loadCompletion(
  argv: readonly string[],
): Promise<CompletionAdapter | undefined> {
  if (!argv.some((word) => word === "completion" || word === "complete")) return undefined;
  return (await import("@bomb.sh/tab/commander")).default;
}

/**
 * Adds `completion` to `program`: tab's commands when `adapter` is given,
 * else a stand-in with the same name, argument and description for help
 * and "did you mean" hints. The stand-in never runs: running `completion`
 * puts its name in argv, and {@linkcode loadCompletion} loads the adapter.
 *
 * @example
 * ```ts
 * import { Command } from "@commander-js/extra-typings";
 * const program = new Command("hermes");
 * registerCompletionCommands(program, await loadCompletion(["completion", "zsh"]));
 * ```
 */
export function registerCompletionCommands(
  program: Command,
  adapter: CompletionAdapter | undefined,
): void {
  if (adapter) {
    // tab is typed against plain commander; extra-typings only narrows the types.
    adapter(program as unknown as PlainCommand, { completionCommandName: "completion" });
    program.commands.find((c) => c.name() === "completion")?.description(DESCRIPTION);
    return;
  }
  program.command("completion")
    .description(DESCRIPTION)
    .addArgument(new Argument(...SHELL_ARGUMENT).choices(SHELLS))
    .action(() => {
      throw new Error("The completion stand-in ran: loadCompletion() should have loaded tab");
    });
}
