/**
 * The wire of the Telegram simulator: HTTP/1.1 on raw TCP (one request per
 * connection, answered with `connection: close`, so a fault can also close
 * a connection without an answer), the Bot API envelope of section 0 of
 * `shared/protocols/telegram.md`, and the parameters of a call read from the
 * query string and a urlencoded, JSON or multipart body.
 *
 * @module
 */

import { concat, type Incoming } from "./_raw_http.ts";

export { type Incoming, readRequest } from "./_raw_http.ts";

/** Parameters of one call: strings (query, forms), files (multipart) or JSON values. */
export type Params = Record<string, unknown>;

/** A Bot API failure: `error_code`, `description` and the optional `parameters`. */
export class ApiError extends Error {
  /** Creates the error; `parameters` is sent only when given. */
  constructor(
    readonly code: number,
    readonly description: string,
    readonly parameters?: { retry_after?: number; migrate_to_chat_id?: number },
  ) {
    super(description);
    this.name = "ApiError";
  }
}

/** "Bad Request: <detail>" as an {@linkcode ApiError}. */
export function badRequest(detail: string): ApiError {
  return new ApiError(400, `Bad Request: ${detail}`);
}

/** A 429 "Too Many Requests: retry after N" with retry_after. */
export function tooManyRequests(retryAfter: number): ApiError {
  return new ApiError(429, `Too Many Requests: retry after ${retryAfter}`, {
    retry_after: retryAfter,
  });
}

/** An HTTP answer. */
export interface Answer {
  /** HTTP status. */
  status: number;
  /** Body. */
  body: Uint8Array | string;
  /** Content-Type (default application/octet-stream). */
  type?: string;
  /** Extra headers. */
  headers?: Record<string, string>;
}

/** `{"ok":true,"result":…}` (HTTP 200), with a description when given. */
export function okAnswer(result: unknown, description?: string): Answer {
  const body = description === undefined ? { ok: true, result } : { ok: true, result, description };
  return { status: 200, body: JSON.stringify(body), type: "application/json" };
}

/** The failure envelope: HTTP status = error_code; a Retry-After header on a 429. */
export function errorAnswer(error: ApiError): Answer {
  const body: Record<string, unknown> = {
    ok: false,
    error_code: error.code,
    description: error.description,
  };
  if (error.parameters) body.parameters = error.parameters;
  const retry = error.parameters?.retry_after;
  return {
    status: error.code,
    body: JSON.stringify(body),
    type: "application/json",
    headers: retry === undefined ? undefined : { "retry-after": String(retry) },
  };
}

/**
 * The parameters of a call: the query string merged with the body
 * (urlencoded, multipart or JSON). Throws a 400 for a body that does not
 * decode.
 */
export async function readParams(incoming: Incoming, url: URL): Promise<Params> {
  const params: Params = Object.fromEntries(url.searchParams);
  const type = (incoming.headers.get("content-type") ?? "").toLowerCase();
  if (incoming.raw.length === 0) return params;
  if (type.startsWith("application/json")) {
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(incoming.raw));
    } catch {
      throw badRequest("can't parse JSON object");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw badRequest("JSON object expected");
    }
    return { ...params, ...body };
  }
  if (
    type.startsWith("multipart/form-data") || type.startsWith("application/x-www-form-urlencoded")
  ) {
    try {
      const form = await new Request("http://x/", {
        method: "POST",
        headers: { "content-type": type },
        body: incoming.raw,
      }).formData();
      for (const [name, value] of form) params[name] = value;
    } catch {
      throw badRequest("can't parse the request body");
    }
  }
  return params;
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
};

/** Writes an answer with `connection: close`. */
export async function writeResponse(conn: Deno.Conn, answer: Answer): Promise<void> {
  const body = typeof answer.body === "string"
    ? new TextEncoder().encode(answer.body)
    : answer.body;
  const head: Record<string, string> = {
    "content-type": answer.type ?? "application/octet-stream",
    "content-length": String(body.length),
    connection: "close",
    ...answer.headers,
  };
  const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  const status = `HTTP/1.1 ${answer.status} ${REASONS[answer.status] ?? "Status"}\r\n`;
  const bytes = concat([new TextEncoder().encode(`${status}${lines}\r\n`), body]);
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}
