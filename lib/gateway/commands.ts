/**
 * Slash commands users type in a chat. The pipeline answers them itself,
 * without the agent and without waiting for a running turn (except `/queue`,
 * which queues its text as a normal message).
 *
 * @module
 */

import { SLASH_COMMANDS, type SlashCommandName } from "../auth/slash_commands.ts";

/** A parsed command. */
export interface SlashCommand {
  readonly name: SlashCommandName;
  /** Text after the command word, trimmed. */
  readonly args: string;
}

const NAMES = new Set<string>(SLASH_COMMANDS.map((c) => c.name));

/**
 * The command in `text`, or undefined when it is no known command (then the
 * text goes to the agent like any message). `/cmd@botname` is accepted.
 *
 * @example
 * ```ts
 * parseSlashCommand("/queue then this"); // { name: "queue", args: "then this" }
 * parseSlashCommand("/etc/hosts?");      // undefined
 * ```
 */
export function parseSlashCommand(text: string): SlashCommand | undefined {
  const match = /^\/([A-Za-z]+)(?:@\S+)?(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!match) return undefined;
  const name = match[1]!.toLowerCase();
  if (!NAMES.has(name)) return undefined;
  return { name: name as SlashCommandName, args: (match[2] ?? "").trim() };
}

/** The text `/help` answers: the commands in `allowed` (default all). */
export function helpText(allowed?: ReadonlySet<SlashCommandName>): string {
  const shown = SLASH_COMMANDS.filter((c) => !allowed || allowed.has(c.name));
  return ["Commands:", ...shown.map((c) => `/${c.name} - ${c.summary}`)].join("\n");
}
