/**
 * The Telegram Bot API: every request goes through {@linkcode TelegramApi.call},
 * which sends the parameters as JSON (multipart when files come along),
 * reads Telegram's envelope and turns a refusal into a
 * {@linkcode TelegramError}. A request that never left (no connection, no
 * address) is tried again twice; one that may have reached Telegram is not,
 * since a send is not idempotent. The token appears in no message.
 *
 * @module
 */

import { TelegramError } from "./errors.ts";

/** Telegram's own API. */
export const DEFAULT_TELEGRAM_API = "https://api.telegram.org";
/** How long an ordinary call may take. */
export const CALL_TIMEOUT_MS = 20_000;
/** Tries of a request that never left, beyond the first. */
const UNSENT_RETRIES = 2;
const UNSENT_BACKOFF_MS = 500;

/** A file sent with a call (`sendPhoto`'s `photo`, `sendDocument`'s `document`). */
export interface UploadFile {
  readonly bytes: Uint8Array;
  readonly name: string;
  readonly mime: string;
}

/** Options of one call. */
export interface CallOptions {
  /** Ends the call (its promise rejects with the abort reason). */
  readonly signal?: AbortSignal;
  /** Default {@linkcode CALL_TIMEOUT_MS}; a long poll passes its own. */
  readonly timeoutMs?: number;
  /** Files by parameter name: the call goes as multipart/form-data. */
  readonly files?: Readonly<Record<string, UploadFile>>;
}

/**
 * One bot's client of the Bot API.
 *
 * @example
 * ```ts
 * const api = new TelegramApi({ token: "123456:ABC-secret" });
 * const me = await api.call<{ id: number; username: string }>("getMe");
 * await api.call("sendMessage", { chat_id: 42, text: `I am @${me.username}` });
 * ```
 */
export class TelegramApi {
  readonly #token: string;
  readonly #base: string;
  readonly #fetch: typeof fetch;

  /** Makes no request until {@linkcode call}. */
  constructor(options: { token: string; baseUrl?: string; fetch?: typeof fetch }) {
    this.#token = options.token;
    this.#base = (options.baseUrl ?? DEFAULT_TELEGRAM_API).replace(/\/+$/, "");
    this.#fetch = options.fetch ?? fetch;
  }

  /** The URL a file `getFile` answered is downloaded from (it holds the token: never log it). */
  fileUrl(filePath: string): string {
    return `${this.#base}/file/bot${this.#token}/${filePath.replace(/^\/+/, "")}`;
  }

  /**
   * Calls `method` with `params` and answers its `result`; throws a
   * {@linkcode TelegramError} when Telegram refuses or does not answer.
   */
  async call<T = unknown>(
    method: string,
    params: Readonly<Record<string, unknown>> = {},
    options: CallOptions = {},
  ): Promise<T> {
    for (let attempt = 0;; attempt++) {
      try {
        return await this.#once<T>(method, params, options);
      } catch (error) {
        const again = error instanceof TelegramError && error.delivery === "unsent" &&
          attempt < UNSENT_RETRIES && !options.signal?.aborted;
        if (!again) throw error;
        await sleep(UNSENT_BACKOFF_MS * 2 ** attempt, options.signal);
      }
    }
  }

  async #once<T>(
    method: string,
    params: Readonly<Record<string, unknown>>,
    options: CallOptions,
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(`${this.#base}/bot${this.#token}/${method}`, {
        method: "POST",
        ...requestBody(params, options.files),
        signal,
      });
      text = await response.text();
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      const reason = causes(error);
      const unsent = !timeout.aborted && NEVER_LEFT.test(reason);
      const why = timeout.aborted ? `no answer within ${timeoutMs} ms` : this.#masked(reason);
      // The cause is kept masked too: fetch's own message names the URL, token and all.
      throw new TelegramError(method, {
        description: why,
        delivery: unsent ? "unsent" : "unknown",
        cause: new Error(why),
      });
    }
    return this.#result<T>(method, response, text);
  }

  #result<T>(method: string, response: Response, text: string): T {
    let envelope: Record<string, unknown> | undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        envelope = value as Record<string, unknown>;
      }
    } catch {
      // not JSON: a proxy's error page, say
    }
    if (envelope?.ok === true) return envelope.result as T;
    const errorCode = typeof envelope?.error_code === "number"
      ? envelope.error_code
      : response.status;
    const description = typeof envelope?.description === "string"
      ? envelope.description
      : `HTTP ${response.status}: ${this.#masked(text.slice(0, 200))}`;
    const parameters = (envelope?.parameters ?? {}) as Record<string, unknown>;
    const retryAfter = typeof parameters.retry_after === "number"
      ? parameters.retry_after
      : Number(response.headers.get("retry-after")) || undefined;
    return throwing(
      new TelegramError(method, {
        errorCode,
        description,
        ...(retryAfter !== undefined ? { retryAfterMs: retryAfter * 1000 } : {}),
        ...(typeof parameters.migrate_to_chat_id === "number"
          ? { migrateToChatId: parameters.migrate_to_chat_id }
          : {}),
      }),
    );
  }

  #masked(text: string): string {
    return text.replaceAll(this.#token, "<token>");
  }
}

/** Messages of failures that happen before a request is written (Deno's fetch wording). */
const NEVER_LEFT =
  /connection refused|tcp connect error|dns error|failed to lookup|name or service not known|no route to host|network is unreachable|address not available/i;

/** The messages of `error` and its causes, innermost last (fetch says only "fetch failed"). */
function causes(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 5; e = (e as Error).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
    if (!(e instanceof Error)) break;
  }
  return parts.join(": ");
}

function requestBody(
  params: Readonly<Record<string, unknown>>,
  files: CallOptions["files"],
): { headers?: Record<string, string>; body: BodyInit } {
  const defined = Object.entries(params).filter(([, value]) => value !== undefined);
  if (!files || Object.keys(files).length === 0) {
    return {
      headers: { "content-type": "application/json" },
      body: JSON.stringify(Object.fromEntries(defined)),
    };
  }
  const form = new FormData();
  for (const [key, value] of defined) {
    form.append(key, typeof value === "string" ? value : JSON.stringify(value));
  }
  for (const [key, file] of Object.entries(files)) {
    form.append(key, new Blob([file.bytes as BlobPart], { type: file.mime }), file.name);
  }
  return { body: form };
}

function throwing(error: Error): never {
  throw error;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
