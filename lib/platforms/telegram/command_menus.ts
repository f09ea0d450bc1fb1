/**
 * The bot's command menus on Telegram (`setMyCommands` per scope): each
 * user sees the slash commands they may run. Telegram keeps a menu until it
 * is deleted, so the scopes set are remembered
 * (`<state dir>/command_scopes.json`, atomic, 0600) and a scope the
 * configuration no longer gives (an admin removed, a group's list dropped)
 * is deleted at the next start.
 *
 * @module
 */

import type { CommandMenu } from "../adapter.ts";
import type { Logger } from "../../util/log.ts";
import { writeJsonAtomic } from "../../util/atomic_file.ts";
import type { TelegramApi } from "./api.ts";

type Scope = Record<string, unknown>;

/**
 * Sets every menu of `menus` and deletes those set before that are gone
 * (best effort: a refusal is logged).
 *
 * @example
 * ```ts
 * import type { AdapterContext } from "../adapter.ts";
 * import type { Logger } from "../../util/log.ts";
 * import type { TelegramApi } from "./api.ts";
 * declare const api: TelegramApi, context: AdapterContext, log: Logger;
 * await syncCommandMenus(api, context.commandMenus, "/srv/hermes/platforms/telegram", log);
 * ```
 */
export async function syncCommandMenus(
  api: TelegramApi,
  menus: readonly CommandMenu[],
  stateDir: string,
  log: Logger,
): Promise<void> {
  const path = `${stateDir}/command_scopes.json`;
  const set: Scope[] = [];
  for (const menu of menus) {
    const scope = telegramScope(menu.scope);
    const commands = menu.commands
      .filter((c) => /^[a-z0-9_]{1,32}$/.test(c.name))
      .slice(0, 100)
      .map((c) => ({ command: c.name, description: (c.summary || c.name).slice(0, 256) }));
    if (!scope || commands.length === 0) continue;
    try {
      await api.call("setMyCommands", { commands, scope });
      set.push(scope);
    } catch (error) {
      log.warn("Telegram did not take a command menu", { scope, error });
    }
  }
  const now = new Set(set.map((scope) => JSON.stringify(scope)));
  const kept: Scope[] = [...set];
  for (const scope of await readScopes(path)) {
    if (now.has(JSON.stringify(scope))) continue;
    try {
      await api.call("deleteMyCommands", { scope });
    } catch (error) {
      log.warn("Telegram did not delete an old command menu; trying again at the next start", {
        scope,
        error,
      });
      kept.push(scope);
    }
  }
  try {
    await writeJsonAtomic(path, kept, { mode: 0o600 });
  } catch (error) {
    log.warn("The command menus set could not be remembered", { error });
  }
}

async function readScopes(path: string): Promise<Scope[]> {
  try {
    const read = JSON.parse(await Deno.readTextFile(path));
    return Array.isArray(read) ? read.filter((s) => typeof s === "object" && s !== null) : [];
  } catch {
    return [];
  }
}

/** Telegram's BotCommandScope for `scope`; undefined for an id that names no chat (a username). */
function telegramScope(scope: CommandMenu["scope"]): Scope | undefined {
  if (scope.kind === "everyone") return { type: "default" };
  const id = scope.kind === "user" ? scope.userId : scope.chatId;
  // A private chat's id is its user's id.
  return /^-?\d+$/.test(id) ? { type: "chat", chat_id: Number(id) } : undefined;
}
