/**
 * Slash-command tiers: users listed in `admin_from` may run every command;
 * everyone else may run `/help`, `/whoami` and the commands in
 * `user_commands` (per group: `groups.<id>.user_commands`).
 *
 * @module
 */

import { SLASH_COMMANDS, type SlashCommandName } from "./slash_commands.ts";
import type { CommandMenu } from "../platforms/adapter.ts";
import type { SessionSource } from "../platforms/event.ts";
import { normaliseId } from "./allowlist.ts";
import { senderOf } from "./access_decision.ts";
import type { PlatformAccess } from "./access_settings.ts";

/** A user's tier. */
export type Tier = "admin" | "user";

const ALWAYS: readonly SlashCommandName[] = ["help", "whoami"];
const EVERY = new Set<SlashCommandName>(SLASH_COMMANDS.map((c) => c.name));

/** The tier of the sender of `source`. */
export function tierOf(access: PlatformAccess, source: SessionSource): Tier {
  return access.adminFrom.has(senderOf(source)) ? "admin" : "user";
}

/**
 * The commands the sender of `source` may run.
 *
 * @example
 * ```ts
 * import type { PlatformAccess } from "./access_settings.ts";
 * declare const access: PlatformAccess;
 * allowedCommands(access, { platform: "local", chatType: "group", chatId: "team", userId: "bob" });
 * // Set { "help", "whoami", "status" } when groups.team.user_commands is [status]
 * ```
 */
export function allowedCommands(
  access: PlatformAccess,
  source: SessionSource,
): ReadonlySet<SlashCommandName> {
  if (tierOf(access, source) === "admin") return EVERY;
  const group = source.chatType === "dm"
    ? undefined
    : access.groups.get(normaliseId(source.chatId, access.platform, access.idsFoldCase));
  return new Set([...ALWAYS, ...(group?.userCommands ?? access.userCommands)]);
}

/**
 * The reply to a user who may not run `/name` here.
 *
 * @example
 * ```ts
 * commandRefusal("reset", "group");
 * ```
 */
export function commandRefusal(
  name: SlashCommandName,
  chatType: SessionSource["chatType"],
): string {
  const where = chatType === "dm" ? "" : " in this group";
  return `Sorry, /${name} is for admins only${where} (your tier: user). /help lists the commands you can use.`;
}

/**
 * The command menus of a platform: everyone's (the user tier's commands),
 * every command for each admin, and each group's own list where it has one.
 *
 * @example
 * ```ts
 * import type { PlatformAccess } from "./access_settings.ts";
 * declare const access: PlatformAccess;
 * commandMenus(access)[0]; // { scope: { kind: "everyone" }, commands: [help, whoami, ...] }
 * ```
 */
export function commandMenus(access: PlatformAccess): CommandMenu[] {
  const listed = (names: ReadonlySet<SlashCommandName>) =>
    SLASH_COMMANDS.filter((c) => names.has(c.name)).map(({ name, summary }) => ({ name, summary }));
  const users = new Set([...ALWAYS, ...access.userCommands]);
  if (access.adminFrom.everyone) return [{ scope: { kind: "everyone" }, commands: listed(EVERY) }];
  return [
    { scope: { kind: "everyone" }, commands: listed(users) },
    ...access.adminFrom.ids.map((userId): CommandMenu => ({
      scope: { kind: "user", userId },
      commands: listed(EVERY),
    })),
    ...[...access.groups].flatMap(([chatId, group]): CommandMenu[] =>
      group.userCommands
        ? [{
          scope: { kind: "chat", chatId },
          commands: listed(new Set([...ALWAYS, ...group.userCommands])),
        }]
        : []
    ),
  ];
}
