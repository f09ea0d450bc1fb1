/**
 * What a Weixin account keeps on disk, in `<home>/platforms/weixin/accounts/`
 * (each file written atomically, mode 0600; a failed write keeps the old one):
 * - `<account>.json`: the login (`token`, `base_url`, `user_id`, `saved_at`);
 * - `<account>.sync.json`: the poll cursor (`get_updates_buf`) and when it was saved;
 * - `<account>.context-tokens.json`: the newest context token of each peer;
 * - `<account>.send-progress.json`: how many bubbles of a half-sent reply part went out.
 *
 * @module
 */

import { ConfigError } from "../../errors.ts";
import { asState, type PlatformState, writeStateJson } from "../platform_state.ts";
import { writeJsonAtomic } from "../../util/atomic_file.ts";

/** The login `hermes weixin login` saves. */
export interface WeixinAccount {
  /** The bot token (`Authorization: Bearer`). */
  readonly token: string;
  /** The iLink API the login ended on ("" when the file names none). */
  readonly base_url: string;
  /** The WeChat user who confirmed the login (`ilink_user_id`), if iLink said. */
  readonly user_id?: string;
  /** `YYYY-MM-DDTHH:MM:SSZ`. */
  readonly saved_at: string;
}

/** The files of an account. */
export type AccountFileKind = "account" | "sync" | "context-tokens" | "send-progress";

/** The saved poll cursor. */
export interface SavedCursor {
  /** `get_updates_buf` of the last batch whose messages were all journaled. */
  readonly cursor: string;
  /** ISO time it was saved (absent in files another tool wrote). */
  readonly savedAt?: string;
}

/**
 * The Weixin state folder of a hermes home (the gateway's `stateDir`).
 *
 * @example
 * ```ts
 * weixinStateDir("/srv/hermes"); // "/srv/hermes/platforms/weixin"
 * ```
 */
export function weixinStateDir(home: string): string {
  return `${home}/platforms/weixin`;
}

/**
 * The path of one of an account's files.
 *
 * @example
 * ```ts
 * accountFile("/srv/hermes/platforms/weixin", "b0f5@im.bot", "sync"); // ".../accounts/b0f5@im.bot.sync.json"
 * ```
 */
export function accountFile(
  stateDir: string,
  accountId: string,
  kind: AccountFileKind = "account",
): string {
  return `${stateDir}/${accountStateName(accountId, kind)}`;
}

/** The name of one of an account's files in the platform's state: `accounts/<id>[.<kind>].json`. */
function accountStateName(accountId: string, kind: AccountFileKind): string {
  if (!/^[A-Za-z0-9@._-]+$/.test(accountId) || accountId.startsWith(".")) {
    throw new ConfigError(
      `Cannot use the Weixin account id "${accountId}": expected letters, digits and @ . _ - (the ilink_bot_id login printed)`,
    );
  }
  const suffix = kind === "account" ? "" : `.${kind}`;
  return `accounts/${accountId}${suffix}.json`;
}

/** A JSON object kept in `state`; undefined when there is none; throws naming it when it is not JSON. */
async function readStateJson(
  state: PlatformState,
  name: string,
): Promise<Record<string, unknown> | undefined> {
  const text = await state.readText(name);
  return text === undefined ? undefined : parseObject(`${state.where}/${name}`, text);
}

/**
 * The saved login of `accountId`, or undefined when there is none; throws a
 * `ConfigError` for a file that is not JSON or has no token.
 *
 * @example
 * ```ts
 * const account = await readAccount("/srv/hermes/platforms/weixin", "b0f5@im.bot");
 * account?.base_url; // "https://ilinkai.weixin.qq.com"
 * ```
 */
export async function readAccount(
  stateDir: string,
  accountId: string,
): Promise<WeixinAccount | undefined> {
  const value = await readJson(accountFile(stateDir, accountId));
  if (value === undefined) return undefined;
  if (typeof value.token !== "string" || value.token === "") {
    throw new ConfigError(
      `The Weixin account file ${
        accountFile(stateDir, accountId)
      } has no token: run \`hermes weixin login\` again`,
    );
  }
  return {
    token: value.token,
    base_url: typeof value.base_url === "string" ? value.base_url : "",
    ...(typeof value.user_id === "string" ? { user_id: value.user_id } : {}),
    saved_at: typeof value.saved_at === "string" ? value.saved_at : "",
  };
}

/**
 * Saves a login (0600) with the time it was saved; answers the file's path.
 *
 * @example
 * ```ts
 * await saveAccount("/srv/hermes/platforms/weixin", "b0f5@im.bot", {
 *   token: "bot-token",
 *   base_url: "https://ilinkai.weixin.qq.com",
 * }); // "/srv/hermes/platforms/weixin/accounts/b0f5@im.bot.json"
 * ```
 */
export async function saveAccount(
  stateDir: string,
  accountId: string,
  account: Omit<WeixinAccount, "saved_at">,
): Promise<string> {
  const savedAt = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  await saveJson(stateDir, accountId, "account", { ...account, saved_at: savedAt });
  return accountFile(stateDir, accountId);
}

/**
 * Removes an account and its cursor and tokens; false when there was nothing to remove.
 *
 * @example
 * ```ts
 * await removeAccount("/srv/hermes/platforms/weixin", "b0f5@im.bot"); // true
 * ```
 */
export async function removeAccount(stateDir: string, accountId: string): Promise<boolean> {
  let removed = false;
  for (const kind of ["account", "sync", "context-tokens", "send-progress"] as const) {
    try {
      await Deno.remove(accountFile(stateDir, accountId, kind));
      removed = true;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return removed;
}

/**
 * The account ids with a saved login, sorted.
 *
 * @example
 * ```ts
 * await listAccounts("/srv/hermes/platforms/weixin"); // ["b0f5@im.bot"]
 * ```
 */
export async function listAccounts(stateDir: string): Promise<string[]> {
  const ids: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${stateDir}/accounts`)) {
      const match = /^(.+?)\.json$/.exec(entry.name);
      if (entry.isFile && match && !/\.(sync|context-tokens|send-progress)$/.test(match[1]!)) {
        ids.push(match[1]!);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return ids.sort();
}

/**
 * The saved poll cursor, or undefined (the first poll starts from the server's default).
 *
 * @example
 * ```ts
 * (await readCursor("/srv/hermes/platforms/weixin", "b0f5@im.bot"))?.cursor; // "CgQIARAB"
 * ```
 */
export async function readCursor(
  where: string | PlatformState,
  accountId: string,
): Promise<SavedCursor | undefined> {
  const value = await readStateJson(asState(where), accountStateName(accountId, "sync"));
  const cursor = value?.get_updates_buf;
  if (typeof cursor !== "string") return undefined;
  return { cursor, ...(typeof value?.saved_at === "string" ? { savedAt: value.saved_at } : {}) };
}

/**
 * Saves the poll cursor (0600).
 *
 * @example
 * ```ts
 * await saveCursor("/srv/hermes/platforms/weixin", "b0f5@im.bot", "CgQIARAB");
 * ```
 */
export async function saveCursor(
  where: string | PlatformState,
  accountId: string,
  cursor: string,
) {
  await writeStateJson(asState(where), accountStateName(accountId, "sync"), {
    get_updates_buf: cursor,
    saved_at: new Date().toISOString(),
  });
}

/**
 * The saved context token of each peer.
 *
 * @example
 * ```ts
 * (await readContextTokens("/srv/hermes/platforms/weixin", "b0f5@im.bot")).get("u@im.wechat"); // "c1"
 * ```
 */
export async function readContextTokens(
  where: string | PlatformState,
  accountId: string,
): Promise<Map<string, string>> {
  const value = await readStateJson(asState(where), accountStateName(accountId, "context-tokens"));
  const tokens = new Map<string, string>();
  for (const [peer, token] of Object.entries(value ?? {})) {
    if (typeof token === "string" && token !== "") tokens.set(peer, token);
  }
  return tokens;
}

/**
 * Saves the context token of each peer (0600).
 *
 * @example
 * ```ts
 * await saveContextTokens("/srv/hermes/platforms/weixin", "b0f5@im.bot", new Map([["u@im.wechat", "c1"]]));
 * ```
 */
export async function saveContextTokens(
  where: string | PlatformState,
  accountId: string,
  tokens: ReadonlyMap<string, string>,
): Promise<void> {
  await writeStateJson(
    asState(where),
    accountStateName(accountId, "context-tokens"),
    Object.fromEntries(tokens),
  );
}

/**
 * How many bubbles of each half-sent reply part (by idempotency key) went out.
 *
 * @example
 * ```ts
 * (await readSendProgress("/srv/hermes/platforms/weixin", "b0f5@im.bot")).get("inbound:7#0"); // 2
 * ```
 */
export async function readSendProgress(
  where: string | PlatformState,
  accountId: string,
): Promise<Map<string, number>> {
  const value = await readStateJson(asState(where), accountStateName(accountId, "send-progress"));
  const progress = new Map<string, number>();
  for (const [key, step] of Object.entries(value ?? {})) {
    if (typeof step === "number" && Number.isInteger(step) && step > 0) progress.set(key, step);
  }
  return progress;
}

/**
 * Saves the progress of half-sent reply parts (0600).
 *
 * @example
 * ```ts
 * await saveSendProgress("/srv/hermes/platforms/weixin", "b0f5@im.bot", new Map([["inbound:7#0", 2]]));
 * ```
 */
export async function saveSendProgress(
  where: string | PlatformState,
  accountId: string,
  progress: ReadonlyMap<string, number>,
): Promise<void> {
  await writeStateJson(
    asState(where),
    accountStateName(accountId, "send-progress"),
    Object.fromEntries(progress),
  );
}

/** Writes one of an account's files atomically, mode 0600 (its folder 0700). */
async function saveJson(
  stateDir: string,
  accountId: string,
  kind: AccountFileKind,
  value: unknown,
): Promise<void> {
  await Deno.mkdir(`${stateDir}/accounts`, { recursive: true, mode: 0o700 });
  await writeJsonAtomic(accountFile(stateDir, accountId, kind), value, { mode: 0o600 });
}

/** A JSON object file; undefined when it does not exist; throws naming the file when it is not JSON. */
async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  return parseObject(path, text);
}

/** `text` of `path` as a JSON object; throws naming the file when it is not one. */
function parseObject(path: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `Cannot read ${path}: it is not JSON (${
        (error as Error).message
      }); remove it or run \`hermes weixin login\` again`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`Cannot read ${path}: it is not a JSON object; remove it`);
  }
  return value as Record<string, unknown>;
}
