/**
 * The wire of the Telegram simulator: HTTP/1.1 on raw TCP (one request per
 * connection, answered with `connection: close`, so a fault can also close
 * a connection without an answer), the Bot API envelope of section 0 of
 * `shared/protocols/telegram.md`, and the parameters of a call read from the
 * query string and a urlencoded, JSON or multipart body.
 *
 * @module
 */

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

/** One request as read from the socket. */
export interface Incoming {
  /** HTTP method. */
  method: string;
  /** Request target (path and query). */
  target: string;
  /** Headers. */
  headers: Headers;
  /** The body bytes. */
  raw: Uint8Array<ArrayBuffer>;
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

/** Buffered reads from a connection. */
class Reader {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async line(max = 65536): Promise<string | undefined> {
    for (;;) {
      const end = this.#buf.findIndex((b, i) => b === 10 && this.#buf[i - 1] === 13);
      if (end >= 0) {
        const line = new TextDecoder().decode(this.#buf.subarray(0, end - 1));
        this.#buf = this.#buf.slice(end + 1);
        return line;
      }
      if (this.#buf.length > max || !await this.#fill()) return undefined;
    }
  }

  async bytes(n: number): Promise<Uint8Array<ArrayBuffer> | undefined> {
    const out = new Uint8Array(n);
    let got = Math.min(n, this.#buf.length);
    out.set(this.#buf.subarray(0, got));
    this.#buf = this.#buf.slice(got);
    while (got < n) {
      const read = await this.conn.read(out.subarray(got));
      if (read === null) return undefined;
      got += read;
    }
    return out;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
    return true;
  }
}

/** Reads one HTTP/1.1 request (Content-Length or chunked); undefined when it is incomplete. */
export async function readRequest(conn: Deno.Conn): Promise<Incoming | undefined> {
  const reader = new Reader(conn);
  const [method, target] = (await reader.line())?.split(" ") ?? [];
  if (!method || !target) return undefined;
  const headers = new Headers();
  for (let line = await reader.line(); line !== ""; line = await reader.line()) {
    if (line === undefined) return undefined;
    const colon = line.indexOf(":");
    try {
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    } catch {
      // a header Headers cannot hold is left out
    }
  }
  if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
    const parts: Uint8Array[] = [];
    for (;;) {
      const size = parseInt(await reader.line() ?? "", 16);
      if (Number.isNaN(size)) return undefined;
      const part = await reader.bytes(size + 2);
      if (!part) return undefined;
      if (size === 0) break;
      parts.push(part.subarray(0, size));
    }
    return { method, target, headers, raw: concat(parts) };
  }
  const raw = await reader.bytes(Number(headers.get("content-length") ?? 0) || 0);
  return raw && { method, target, headers, raw };
}

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

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
