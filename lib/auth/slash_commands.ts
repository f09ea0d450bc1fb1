/**
 * The slash commands every platform offers, with their one-line summaries:
 * the names access settings (`user_commands`) may list and tiers grant.
 * The gateway parses and answers them (`lib/gateway/commands.ts`).
 *
 * @module
 */

/** The commands, in the order `/help` lists them. */
export const SLASH_COMMANDS = [
  { name: "help", summary: "list the commands" },
  { name: "new", summary: "start a new session (the old one stays searchable)" },
  { name: "reset", summary: "same as /new" },
  { name: "stop", summary: "stop the reply being written and drop queued messages" },
  { name: "status", summary: "show this session and the agent" },
  { name: "whoami", summary: "show your user id and access tier" },
  { name: "queue", summary: "/queue TEXT: answer TEXT after the current reply" },
] as const;

/** A command's name. */
export type SlashCommandName = (typeof SLASH_COMMANDS)[number]["name"];
