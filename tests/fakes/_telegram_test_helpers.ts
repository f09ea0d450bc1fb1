/**
 * Helpers for the Telegram simulator's own tests: one Bot API call over
 * real HTTP, with the parameters sent as a query string, JSON, urlencoded or
 * multipart form.
 *
 * @module
 */

import type { TelegramServer } from "./telegram_server.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** An answer: status, headers and the parsed JSON body. */
export interface Reply {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  json: any;
}

/** How the parameters travel. */
export type Encoding = "json" | "query" | "form" | "multipart";

/**
 * Calls `method` with `params` (objects sent as JSON strings outside a JSON
 * body) and reads the answer.
 *
 * @example
 * ```ts
 * import { TelegramServer } from "./telegram_server.ts";
 * await using tg = await TelegramServer.start();
 * const reply = await call(tg, "sendMessage", { chat_id: 1001, text: "hi" });
 * ```
 */
export async function call(
  tg: TelegramServer,
  method: string,
  params: Record<string, unknown> = {},
  via: Encoding = "json",
  signal?: AbortSignal,
): Promise<Reply> {
  const flat = (v: unknown) =>
    typeof v === "object" && !(v instanceof Blob) ? JSON.stringify(v) : String(v);
  let url = `${tg.apiBase}/${method}`;
  const init: RequestInit = { method: "POST", signal };
  if (via === "json") {
    init.headers = { "content-type": "application/json" };
    init.body = JSON.stringify(params);
  } else if (via === "query") {
    init.method = "GET";
    url += `?${new URLSearchParams(Object.entries(params).map(([k, v]) => [k, flat(v)]))}`;
  } else if (via === "form") {
    init.body = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, flat(v)]));
  } else {
    const form = new FormData();
    for (const [k, v] of Object.entries(params)) {
      if (v instanceof Blob) form.set(k, v);
      else form.set(k, flat(v));
    }
    init.body = form;
  }
  return read(await fetch(url, init));
}

/** Reads an answer's status, headers and JSON (undefined when it is not JSON). */
export async function read(response: Response): Promise<Reply> {
  const text = await response.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json };
}
