/**
 * Who may talk to the bot on one platform: the access settings every
 * platform section carries (`dm_policy`, `group_policy`, `allow_from`, ...),
 * their environment names (`<PLATFORM>_DM_POLICY`, ...), and how they
 * resolve into a {@linkcode PlatformAccess}.
 *
 * Policies: `open` (anyone), `allowlist` (the listed users and users
 * approved by pairing), `pairing` (as allowlist, and a stranger's DM gets a
 * pairing code), `disabled` (no one). Unset policies default to `pairing`
 * for DMs and `allowlist` for groups, or `open` for both when an allow-all
 * flag is set; the local platform (this machine) defaults to `open`.
 *
 * @module
 */

import { z } from "zod";
import type { Config } from "../config/schema.ts";
import { ConfigError } from "../errors.ts";
import { SLASH_COMMANDS, type SlashCommandName } from "./slash_commands.ts";
import { Allowlist, normaliseId } from "./allowlist.ts";

/** The access policies of DMs and of groups. */
export const ACCESS_POLICIES = ["open", "allowlist", "pairing", "disabled"] as const;

/** One access policy. */
export type AccessPolicy = (typeof ACCESS_POLICIES)[number];

const COMMAND_NAMES = SLASH_COMMANDS.map((c) => c.name) as [
  SlashCommandName,
  ...SlashCommandName[],
];

const ids = (what: string) => z.array(z.string().min(1)).default([]).describe(what);

/** Settings of one group (by group id) under `groups`. */
export const groupAccessSchema = z.object({
  allow_from: z.array(z.string().min(1)).optional().describe(
    "Only these users may talk to the bot in this group",
  ),
  user_commands: z.array(z.enum(COMMAND_NAMES)).optional().describe(
    "Slash commands non-admins may run in this group (replaces user_commands)",
  ),
});

/** The access fields every platform section holds (spread into its zod object). */
export const accessFields = {
  dm_policy: z.enum(ACCESS_POLICIES).optional().describe(
    "Who may write in direct messages: open, allowlist, pairing (strangers get a code for `hermes pair approve`) or disabled; default pairing (local: open)",
  ),
  group_policy: z.enum(ACCESS_POLICIES).optional().describe(
    "Who may talk in groups: open, allowlist (groups in group_allow_from), pairing (allowed and paired users) or disabled; default allowlist (local: open)",
  ),
  allow_all_users: z.boolean().default(false).describe(
    "Confirms that open policies are meant: anyone who finds the bot may use the agent",
  ),
  allow_from: ids("User ids allowed in DMs and groups ('*' for everyone)"),
  group_allow_from: ids("Group ids the bot answers in under group_policy allowlist ('*' for all)"),
  groups: z.record(z.string(), groupAccessSchema).default({}).describe(
    "Per-group settings by group id: allow_from, user_commands",
  ),
  admin_from: ids("User ids that may run every slash command (they are allowed users too)"),
  user_commands: z.array(z.enum(COMMAND_NAMES)).optional().describe(
    "Slash commands non-admins may run besides /help and /whoami; default all",
  ),
};

/** The access settings of one platform, as validated. */
export type AccessSettings = z.output<z.ZodObject<typeof accessFields>>;

/** The prefix of a platform's environment names: `wecom` → `WECOM`. */
export function envPrefix(platform: string): string {
  return platform.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/**
 * The environment names of a platform's access settings, for its section's
 * `env` map.
 *
 * @example
 * ```ts
 * accessEnv("local"); // { LOCAL_DM_POLICY: "dm_policy", LOCAL_ALLOWED_USERS: "allow_from", ... }
 * ```
 */
export function accessEnv(platform: string): Record<string, string> {
  const prefix = envPrefix(platform);
  return {
    [`${prefix}_DM_POLICY`]: "dm_policy",
    [`${prefix}_GROUP_POLICY`]: "group_policy",
    [`${prefix}_ALLOWED_USERS`]: "allow_from",
    [`${prefix}_ALLOW_ALL_USERS`]: "allow_all_users",
  };
}

/** Per-group access, by normalised group id. */
export interface GroupAccess {
  readonly allowFrom?: Allowlist;
  readonly userCommands?: ReadonlySet<SlashCommandName>;
}

/** The resolved access rules of one platform. */
export interface PlatformAccess {
  readonly platform: string;
  /** Whether the platform's ids ignore case (its definition's `idsFoldCase`). */
  readonly idsFoldCase: boolean;
  readonly dmPolicy: AccessPolicy;
  readonly groupPolicy: AccessPolicy;
  /** Set by `allow_all_users`, `<PLATFORM>_ALLOW_ALL_USERS` or `GATEWAY_ALLOW_ALL_USERS`. */
  readonly allowAll: boolean;
  readonly allowFrom: Allowlist;
  readonly groupAllowFrom: Allowlist;
  readonly groups: ReadonlyMap<string, GroupAccess>;
  readonly adminFrom: Allowlist;
  readonly userCommands: ReadonlySet<SlashCommandName>;
  /** Where the settings live, for messages: `local` or `platforms.myplugin`. */
  readonly settingsPath: string;
}

/**
 * The access rules of `platform`. Built-in platforms read their section
 * (whose env names the config loader applied); plugin platforms read
 * `platforms.<name>` and the same env names here. `idsFoldCase` is what the
 * platform declares of its ids (see the registry's `idsFoldCase`). Throws
 * ConfigError when a plugin's settings are invalid.
 *
 * @example
 * ```ts
 * import type { Config } from "../config/schema.ts";
 * declare const config: Config;
 * platformAccess(config, Deno.env.toObject(), "weixin", { idsFoldCase: false }).allowFrom.has("o9cq8@im.wechat");
 * ```
 */
export function platformAccess(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
  platform: string,
  options: { idsFoldCase: boolean },
): PlatformAccess {
  const foldCase = options.idsFoldCase;
  const section = (config as unknown as Record<string, unknown>)[platform];
  const builtin = platform !== "platforms" && typeof section === "object" && section !== null &&
    "allow_from" in section;
  const settingsPath = builtin ? platform : `platforms.${platform}`;
  const settings = builtin
    ? section as AccessSettings
    : pluginSettings(config.platforms[platform] ?? {}, env, platform, settingsPath);
  const allowAll = settings.allow_all_users || config.gateway.allow_all_users;
  const fallback = platform === "local" || allowAll;
  const list = (entries: readonly string[]) => new Allowlist(entries, platform, { foldCase });
  const groups = new Map<string, GroupAccess>();
  for (const [id, group] of Object.entries(settings.groups)) {
    groups.set(normaliseId(id, platform, foldCase), {
      allowFrom: group.allow_from ? list(group.allow_from) : undefined,
      userCommands: group.user_commands ? new Set(group.user_commands) : undefined,
    });
  }
  return {
    platform,
    idsFoldCase: foldCase,
    dmPolicy: settings.dm_policy ?? (fallback ? "open" : "pairing"),
    groupPolicy: settings.group_policy ?? (fallback ? "open" : "allowlist"),
    allowAll,
    allowFrom: list(settings.allow_from),
    groupAllowFrom: list(settings.group_allow_from),
    groups,
    adminFrom: list(settings.admin_from),
    userCommands: new Set(settings.user_commands ?? COMMAND_NAMES),
    settingsPath,
  };
}

/**
 * Refuses open policies on platforms other than local unless an allow-all
 * flag confirms them (ConfigError, exit 78, naming the flag to set).
 */
export function checkOpenPolicies(access: PlatformAccess): void {
  if (access.platform === "local" || access.allowAll) return;
  for (
    const [key, policy] of [["dm_policy", access.dmPolicy], ["group_policy", access.groupPolicy]]
  ) {
    if (policy !== "open") continue;
    const prefix = envPrefix(access.platform);
    throw new ConfigError(
      `Refusing to start: ${access.settingsPath}.${key} is "open", so anyone who finds the bot could use the agent; set ${prefix}_ALLOW_ALL_USERS=true (or GATEWAY_ALLOW_ALL_USERS=true for every platform) to confirm, or use ${key}: pairing`,
    );
  }
}

function pluginSettings(
  raw: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  platform: string,
  settingsPath: string,
): AccessSettings {
  const merged: Record<string, unknown> = { ...raw };
  for (const [name, key] of Object.entries(accessEnv(platform))) {
    const value = env[name]?.trim();
    if (!value) continue;
    merged[key] = key === "allow_from"
      ? value.split(",").map((item) => item.trim()).filter(Boolean)
      : key === "allow_all_users"
      ? /^(true|1|yes|on)$/i.test(value)
      : value;
  }
  const parsed = z.object(accessFields).safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(
      `Cannot load config: ${settingsPath}.${issue.path.join(".")}: ${issue.message}`,
    );
  }
  return parsed.data;
}
