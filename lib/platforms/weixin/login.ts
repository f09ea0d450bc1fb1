/**
 * The Weixin QR login (`hermes weixin login`): iLink hands out a QR code,
 * the bot's owner scans it with WeChat and confirms on the phone, and iLink
 * answers the bot's account id and token, which are saved in the account
 * file (0600). What the flow shows goes through `onEvent`, so the CLI and
 * the tests share it (`login_output.ts` turns events into text).
 *
 * Where the protocol notes are silent, these are our assumptions:
 * - a `scaned_but_redirect` host is polled with the scheme of the configured
 *   base URL (`https://` in production, `http://` against the simulator),
 *   from then on, also for the codes of later refreshes; new codes always
 *   come from the configured base URL;
 * - a refresh that fails is tried again on the next poll (the old code has
 *   expired anyway); only the first code's failure ends the login;
 * - `confirmed` without `baseurl` saves the configured base URL; a bare host
 *   gets the configured scheme;
 * - a status hermes does not know (`need_verifycode`, ...) counts as waiting.
 *
 * @module
 */

import { HermesError } from "../../errors.ts";
import { accountFile, saveAccount } from "./accounts.ts";
import { ILINK_TIMEOUTS, IlinkClient } from "./api.ts";

/** `bot_type` of get_bot_qrcode. */
export const LOGIN_BOT_TYPE = "3";
/** How long a login waits for the scan and the confirmation. */
export const DEFAULT_LOGIN_TIMEOUT_MS = 480_000;
/** New codes after an expiry; the expiry after the last one fails the login. */
export const MAX_QR_REFRESHES = 3;
/** Time between two get_qrcode_status polls. */
export const LOGIN_POLL_INTERVAL_MS = 1_000;

/** What the login shows as it goes. */
export type LoginEvent =
  /** A code to scan: the first (`refresh` 0) or a new one after an expiry. */
  | { readonly type: "qrcode"; readonly url: string; readonly refresh: number }
  /** The code waits for a scan. */
  | { readonly type: "wait" }
  /** Scanned: the owner confirms on the phone. */
  | { readonly type: "scanned" }
  /** Scanned, and iLink moved the login to another host, polled from now on. */
  | { readonly type: "redirect"; readonly host: string; readonly baseUrl: string }
  /** The code expired: `count` of them so far (more than `max` ends the login). */
  | { readonly type: "expired"; readonly count: number; readonly max: number }
  /** A poll or a refresh got no usable answer; the login goes on waiting. */
  | { readonly type: "poll_failed"; readonly error: Error }
  /** iLink answered a status hermes does not know; counted as waiting. */
  | { readonly type: "unknown_status"; readonly status: string };

/** The time the login runs on: monotonic milliseconds and a sleep that an abort ends. */
export interface LoginClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** What {@linkcode qrLogin} needs. */
export interface QrLoginOptions {
  /** The iLink API, e.g. `https://ilinkai.weixin.qq.com`. */
  readonly baseUrl: string;
  /** Where the account file goes: `weixinStateDir(home)`. */
  readonly stateDir: string;
  /** Default {@linkcode DEFAULT_LOGIN_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Stops the login (Ctrl-C): it then throws a `cancelled` error and saves nothing. */
  readonly signal?: AbortSignal;
  /** Hears each step; the login waits for it (a QR code may take a moment to draw). */
  readonly onEvent?: (event: LoginEvent) => void | Promise<void>;
  /** Default the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Default {@linkcode realClock}. */
  readonly clock?: LoginClock;
  /** Default {@linkcode LOGIN_POLL_INTERVAL_MS}. */
  readonly pollIntervalMs?: number;
  /** Default {@linkcode MAX_QR_REFRESHES}. */
  readonly maxRefreshes?: number;
}

/** A login that was confirmed and saved. */
export interface QrLoginResult {
  /** The bot's `ilink_bot_id`: what `WEIXIN_ACCOUNT_ID` is set to. */
  readonly accountId: string;
  /** The `ilink_user_id` iLink answered, if any. */
  readonly userId: string | undefined;
  /** The API base saved with the account. */
  readonly baseUrl: string;
  /** The saved account file (mode 0600). */
  readonly accountFile: string;
}

/** Why a login ended without an account. */
export type LoginFailure =
  | "timeout"
  | "expired"
  | "cancelled"
  | "qrcode"
  | "incomplete";

/**
 * A login that ended without a saved account: `reason` says why (time ran
 * out, the code expired too often, cancelled, no first code, a confirmation
 * without account id or token).
 *
 * @example
 * ```ts
 * new WeixinLoginError("timeout", "Weixin login timed out after 480 s: the QR code was not scanned and confirmed in time");
 * ```
 */
export class WeixinLoginError extends HermesError {
  /** Why the login ended. */
  readonly reason: LoginFailure;

  /** Its `code` is `weixin_login_<reason>`. */
  constructor(reason: LoginFailure, message: string, options?: ErrorOptions) {
    super(`weixin_login_${reason}`, message, options);
    this.name = "WeixinLoginError";
    this.reason = reason;
  }
}

/** The real clock: `performance.now()` and `setTimeout`. */
export const realClock: LoginClock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/**
 * Logs a bot in by QR code: gets a code, shows it (through `onEvent`),
 * polls its status about every second until it is confirmed, follows a
 * redirect, gets a new code when one expires (at most `maxRefreshes`
 * times), then saves the account file and answers what was saved. Poll
 * errors count as waiting. Throws a {@linkcode WeixinLoginError} when time
 * runs out, the code expired once more than allowed, the signal aborted, the
 * first code cannot be had, or the confirmation lacks the account id or the
 * token; nothing is saved then.
 *
 * @example
 * ```ts
 * const result = await qrLogin({
 *   baseUrl: "https://ilinkai.weixin.qq.com",
 *   stateDir: "/srv/hermes/platforms/weixin",
 *   onEvent: (event) => console.log(event.type),
 * });
 * console.log(`WEIXIN_ACCOUNT_ID=${result.accountId}`);
 * ```
 */
export async function qrLogin(options: QrLoginOptions): Promise<QrLoginResult> {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const clock = options.clock ?? realClock;
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS;
  const interval = options.pollIntervalMs ?? LOGIN_POLL_INTERVAL_MS;
  const maxRefreshes = options.maxRefreshes ?? MAX_QR_REFRESHES;
  const { signal } = options;
  const api = new IlinkClient({ baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const deadline = clock.now() + timeoutMs;
  const left = () => deadline - clock.now();
  const emit = async (event: LoginEvent) => {
    await options.onEvent?.(event);
  };
  const cancelled = () =>
    new WeixinLoginError("cancelled", "Weixin login cancelled: nothing was saved");
  const timedOut = () =>
    new WeixinLoginError(
      "timeout",
      `Weixin login timed out after ${
        seconds(timeoutMs)
      } s: the QR code was not scanned and confirmed in time`,
    );
  /** Runs `work`; an abort during it becomes the `cancelled` error. */
  const unlessAborted = async <T>(work: () => Promise<T>): Promise<T> => {
    if (signal?.aborted) throw cancelled();
    try {
      return await work();
    } catch (error) {
      if (signal?.aborted) throw cancelled();
      throw error;
    }
  };

  let qrcode: string | undefined;
  let refreshes = 0;
  let pollBase = baseUrl;
  for (;;) {
    if (signal?.aborted) throw cancelled();
    if (left() <= 0) throw timedOut();
    if (qrcode === undefined) {
      let code: { qrcode: string; url: string } | undefined;
      try {
        code = await unlessAborted(() => getQrcode(api, left(), signal));
      } catch (error) {
        if (error instanceof WeixinLoginError) throw error;
        if (refreshes === 0) {
          throw new WeixinLoginError(
            "qrcode",
            `Cannot get a Weixin login QR code from ${baseUrl}: ${(error as Error).message}`,
            { cause: error },
          );
        }
        await emit({ type: "poll_failed", error: error as Error });
      }
      if (code) {
        qrcode = code.qrcode;
        await emit({ type: "qrcode", url: code.url, refresh: refreshes });
      }
    } else {
      let answer: Record<string, unknown> | undefined;
      try {
        answer = await unlessAborted(() =>
          api.get(
            `get_qrcode_status?qrcode=${encodeURIComponent(qrcode!)}`,
            Math.min(ILINK_TIMEOUTS.qr, left()),
            { baseUrl: pollBase, ...(signal ? { signal } : {}) },
          )
        );
      } catch (error) {
        if (error instanceof WeixinLoginError) throw error;
        await emit({ type: "poll_failed", error: error as Error });
      }
      const status = answer === undefined ? undefined : String(answer.status ?? "wait");
      switch (status) {
        case undefined:
          break;
        case "wait":
          await emit({ type: "wait" });
          break;
        case "scaned":
          await emit({ type: "scanned" });
          break;
        case "scaned_but_redirect": {
          const host = String(answer!.redirect_host ?? "");
          const next = redirectBase(baseUrl, host);
          if (next !== undefined && next !== pollBase) {
            pollBase = next;
            await emit({ type: "redirect", host, baseUrl: next });
          } else {
            await emit({ type: "scanned" }); // already there, or no host to go to
          }
          break;
        }
        case "expired":
          refreshes++;
          await emit({ type: "expired", count: refreshes, max: maxRefreshes });
          if (refreshes > maxRefreshes) {
            throw new WeixinLoginError(
              "expired",
              `Weixin login failed: the QR code expired ${refreshes} times (${maxRefreshes} new codes were shown) without being confirmed`,
            );
          }
          qrcode = undefined;
          continue; // a new code at once; its first poll waits the interval below
        case "confirmed":
          if (signal?.aborted) throw cancelled();
          return await save(options.stateDir, baseUrl, answer!);
        default:
          await emit({ type: "unknown_status", status });
      }
    }
    const pause = Math.min(interval, left());
    if (pause > 0) await unlessAborted(() => clock.sleep(pause, signal));
  }
}

/** A new code: its value (to poll with) and the URL to scan. */
async function getQrcode(
  api: IlinkClient,
  timeLeftMs: number,
  signal: AbortSignal | undefined,
): Promise<{ qrcode: string; url: string }> {
  const answer = await api.get(
    `get_bot_qrcode?bot_type=${LOGIN_BOT_TYPE}`,
    Math.min(ILINK_TIMEOUTS.qr, timeLeftMs),
    signal ? { signal } : {},
  );
  const qrcode = text(answer.qrcode);
  const url = text(answer.qrcode_img_content);
  if (!qrcode || !url) {
    throw new Error(
      `iLink get_bot_qrcode answered no ${!qrcode ? "qrcode" : "qrcode_img_content"}`,
    );
  }
  return { qrcode, url };
}

/** Saves a confirmed login; throws when it lacks the account id or the token. */
async function save(
  stateDir: string,
  baseUrl: string,
  answer: Record<string, unknown>,
): Promise<QrLoginResult> {
  const accountId = text(answer.ilink_bot_id);
  const token = text(answer.bot_token);
  const missing = [!accountId && "ilink_bot_id", !token && "bot_token"].filter(Boolean);
  if (!accountId || !token) {
    throw new WeixinLoginError(
      "incomplete",
      `Weixin login failed: iLink confirmed it without ${
        missing.join(" and ")
      }, so nothing was saved`,
    );
  }
  try {
    accountFile(stateDir, accountId);
  } catch (error) {
    throw new WeixinLoginError(
      "incomplete",
      `Weixin login failed: iLink confirmed it with an ilink_bot_id hermes cannot use as a file name (${
        JSON.stringify(accountId)
      }), so nothing was saved`,
      { cause: error },
    );
  }
  const savedBase = baseUrlOf(text(answer.baseurl), baseUrl);
  const userId = text(answer.ilink_user_id) || undefined;
  const path = await saveAccount(stateDir, accountId, {
    token,
    base_url: savedBase,
    ...(userId ? { user_id: userId } : {}),
  });
  return { accountId, userId, baseUrl: savedBase, accountFile: path };
}

/**
 * The base a `scaned_but_redirect` host is polled at: the host with the
 * configured base URL's scheme (a host that brings its own http(s) scheme
 * keeps it); undefined for a value that is no host.
 *
 * @example
 * ```ts
 * redirectBase("https://ilinkai.weixin.qq.com", "sh.ilinkai.weixin.qq.com"); // "https://sh.ilinkai.weixin.qq.com"
 * redirectBase("http://127.0.0.1:8080", "127.0.0.1:9090"); // "http://127.0.0.1:9090"
 * ```
 */
export function redirectBase(baseUrl: string, host: string): string | undefined {
  const value = host.trim();
  if (value === "") return undefined;
  const candidate = /^https?:\/\//i.test(value) ? value : `${new URL(baseUrl).protocol}//${value}`;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return undefined;
  }
  if (url.username || url.password || url.host === "") return undefined;
  return `${url.protocol}//${url.host}`;
}

/** The base URL to save: `baseurl` when it is an http(s) URL or a bare host, else `fallback`. */
function baseUrlOf(value: string, fallback: string): string {
  if (/^https?:\/\/[^/]/i.test(value) && URL.canParse(value)) return value.replace(/\/+$/, "");
  if (/^[A-Za-z0-9.-]+(:\d+)?$/.test(value)) return `${new URL(fallback).protocol}//${value}`;
  return fallback;
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
