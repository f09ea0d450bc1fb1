/**
 * The iLink bot API: every request through one call that adds the headers
 * and `base_info` iLink wants, enforces the timeout, and turns a refusal
 * into an {@linkcode IlinkError} that says what kind it is (session
 * expired, rate limited, another error, HTTP, network).
 *
 * @module
 */

import { PlatformError } from "../../errors.ts";

/** `base_info.channel_version` of every POST. */
export const CHANNEL_VERSION = "2.2.0";
/** `iLink-App-ClientVersion`: (2<<16)|(2<<8)|0. */
export const CLIENT_VERSION = "131584";

/** How long each kind of request may take, in ms (the long poll has its own). */
export const ILINK_TIMEOUTS = {
  poll: 35_000,
  api: 15_000,
  config: 10_000,
  qr: 35_000,
  cdn: 120_000,
} as const;

/** What kind of refusal an iLink answer is. */
export type IlinkErrorKind = "session_expired" | "rate_limited" | "error" | "http" | "network";

/**
 * A refused or failed iLink request.
 *
 * @example
 * ```ts
 * new IlinkError("sendmessage", "rate_limited", "iLink sendmessage rate limited (ret -2)", { ret: -2 });
 * ```
 */
export class IlinkError extends PlatformError {
  /** The endpoint that was called, e.g. `sendmessage` (`upload` for the CDN). */
  readonly endpoint: string;
  /** What kind of refusal it is. */
  readonly kind: IlinkErrorKind;
  /** The answer's `ret`, when it had one. */
  readonly ret: number | undefined;
  /** The answer's `errcode`, when it had one. */
  readonly errcode: number | undefined;
  /** iLink's wording (`errmsg` and `msg` joined), or "". */
  readonly errmsg: string;
  /** The request got no answer in its time (a long poll that did so is an empty answer). */
  readonly timedOut: boolean;

  /**
   * The platform code is `details.ret`, else `errcode`, else `status`, else
   * `kind`; retryable are HTTP 5xx and 429 and every kind but `error`.
   */
  constructor(
    endpoint: string,
    kind: IlinkErrorKind,
    message: string,
    details: {
      ret?: number;
      errcode?: number;
      errmsg?: string;
      status?: number;
      retryAfterMs?: number;
      timedOut?: boolean;
      cause?: unknown;
    } = {},
  ) {
    const code = details.ret ?? details.errcode ?? details.status ?? kind;
    super(message, {
      platform: "weixin",
      code,
      retryable: kind === "http"
        ? (details.status ?? 0) >= 500 || details.status === 429
        : kind !== "error",
      ...(details.retryAfterMs !== undefined ? { retryAfterMs: details.retryAfterMs } : {}),
      cause: details.cause,
    });
    this.name = "IlinkError";
    this.endpoint = endpoint;
    this.kind = kind;
    this.ret = details.ret;
    this.errcode = details.errcode;
    this.errmsg = details.errmsg ?? "";
    this.timedOut = details.timedOut ?? false;
  }
}

/**
 * The refusal an answer carries (ret or errcode not 0), or undefined for a
 * success: −14, or −2 saying "unknown error" / "prepare failed", is an
 * expired session; any other −2 is a rate limit.
 *
 * @example
 * ```ts
 * ilinkRefusal("getupdates", { ret: -14 })?.kind; // "session_expired"
 * ilinkRefusal("sendmessage", { ret: 0 }); // undefined
 * ```
 */
export function ilinkRefusal(
  endpoint: string,
  answer: Record<string, unknown>,
): IlinkError | undefined {
  const ret = numberOr(answer.ret);
  const errcode = numberOr(answer.errcode);
  if ((ret ?? 0) === 0 && (errcode ?? 0) === 0) return undefined;
  const wording = [answer.errmsg, answer.msg].filter((m): m is string => typeof m === "string");
  const errmsg = wording.filter((m) => m !== "").join("; ");
  const codes = [ret, errcode];
  const staleWording = wording.some((m) => /unknown error|prepare failed/i.test(m));
  const kind: IlinkErrorKind = codes.includes(-14) || (codes.includes(-2) && staleWording)
    ? "session_expired"
    : codes.includes(-2)
    ? "rate_limited"
    : "error";
  const what = kind === "session_expired"
    ? "session expired"
    : kind === "rate_limited"
    ? "rate limited"
    : "error";
  return new IlinkError(
    endpoint,
    kind,
    `iLink ${endpoint} ${what}: ret=${ret ?? "-"} errcode=${errcode ?? "-"} errmsg=${
      errmsg || "-"
    }`,
    {
      ...(ret !== undefined ? { ret } : {}),
      ...(errcode !== undefined ? { errcode } : {}),
      errmsg,
    },
  );
}

/** What an {@linkcode IlinkClient} needs. */
export interface IlinkClientOptions {
  /** The API base, e.g. `https://ilinkai.weixin.qq.com`. */
  readonly baseUrl: string;
  /** The bot token (`Authorization: Bearer`); login has none yet. */
  readonly token?: string;
  /** Default the global `fetch`. */
  readonly fetch?: typeof fetch;
}

/**
 * One account's client of the iLink API.
 *
 * @example
 * ```ts
 * declare const token: string; // the bot token `hermes weixin login` saved
 *
 * const api = new IlinkClient({ baseUrl: "https://ilinkai.weixin.qq.com", token });
 * const answer = await api.post("getupdates", { get_updates_buf: "" }, ILINK_TIMEOUTS.poll);
 * ```
 */
export class IlinkClient {
  /** The API base, without a trailing slash. */
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;

  /** Makes no request: the first goes out with {@linkcode post} or {@linkcode get}. */
  constructor(options: IlinkClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
  }

  /**
   * POSTs `payload` (plus `base_info`) to `ilink/bot/<endpoint>` and answers
   * the JSON; throws an IlinkError for a refusal, an HTTP error, a timeout
   * or a network failure.
   */
  async post(
    endpoint: string,
    payload: Record<string, unknown>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const body = new TextEncoder().encode(
      JSON.stringify({ ...payload, base_info: { channel_version: CHANNEL_VERSION } }),
    );
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      "AuthorizationType": "ilink_bot_token",
      "Content-Length": String(body.length),
      "X-WECHAT-UIN": randomUin(),
      "iLink-App-Id": "bot",
      "iLink-App-ClientVersion": CLIENT_VERSION,
      ...(this.#token ? { "Authorization": `Bearer ${this.#token}` } : {}),
    };
    const answer = await this.#request(
      "POST",
      endpoint,
      `${this.baseUrl}/ilink/bot/${endpoint}`,
      { method: "POST", headers, body },
      timeoutMs,
      signal,
    );
    const refusal = ilinkRefusal(endpoint, answer);
    if (refusal) throw refusal;
    return answer;
  }

  /** GETs `ilink/bot/<pathAndQuery>` from `baseUrl` (or another host, a login redirect). */
  async get(
    pathAndQuery: string,
    timeoutMs: number,
    options: { baseUrl?: string; signal?: AbortSignal } = {},
  ): Promise<Record<string, unknown>> {
    const base = (options.baseUrl ?? this.baseUrl).replace(/\/+$/, "");
    const endpoint = pathAndQuery.split("?")[0]!;
    const headers = { "iLink-App-Id": "bot", "iLink-App-ClientVersion": CLIENT_VERSION };
    const answer = await this.#request(
      "GET",
      endpoint,
      `${base}/ilink/bot/${pathAndQuery}`,
      { method: "GET", headers },
      timeoutMs,
      options.signal,
    );
    const refusal = ilinkRefusal(endpoint, answer);
    if (refusal) throw refusal;
    return answer;
  }

  async #request(
    method: string,
    endpoint: string,
    url: string,
    init: RequestInit,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(url, { ...init, signal: both });
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw error;
      const why = timeout.aborted ? `no answer within ${timeoutMs} ms` : (error as Error).message;
      throw new IlinkError(endpoint, "network", `iLink ${method} ${endpoint} failed: ${why}`, {
        timedOut: timeout.aborted,
        cause: error,
      });
    }
    if (!response.ok) {
      throw new IlinkError(
        endpoint,
        "http",
        `iLink ${method} ${endpoint} HTTP ${response.status}: ${text.slice(0, 200)}`,
        { status: response.status },
      );
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new IlinkError(
        endpoint,
        "http",
        `iLink ${method} ${endpoint} answered something that is not JSON: ${text.slice(0, 200)}`,
        { status: 502 },
      );
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new IlinkError(endpoint, "http", `iLink ${method} ${endpoint} answered no object`, {
        status: 502,
      });
    }
    return value as Record<string, unknown>;
  }
}

/** X-WECHAT-UIN: base64 of the decimal string of a random uint32, new for every call. */
function randomUin(): string {
  const [n] = crypto.getRandomValues(new Uint32Array(1));
  return btoa(String(n));
}

function numberOr(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && /^-?\d+$/.test(value.trim())) return Number(value);
  return undefined;
}
