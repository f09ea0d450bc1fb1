/**
 * Small HTTP helpers of the local platform's server.
 *
 * @module
 */

import { type ApiError, apiError } from "./api_protocol.ts";

/** A JSON response. */
export function json(status: number, body: unknown, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** Answers with `handle` when the method is `method` (GET also takes HEAD), else 405. */
export function only(
  request: Request,
  method: string,
  handle: () => Response | Promise<Response>,
): Response | Promise<Response> {
  if (request.method === method || (method === "GET" && request.method === "HEAD")) return handle();
  return json(405, apiError(405, `Method ${request.method} not allowed; use ${method}`).body, {
    allow: method,
  });
}

/** Reads a JSON body of at most `limit` bytes. */
export async function readJsonBody(
  request: Request,
  limit: number,
): Promise<{ value: unknown } | ApiError> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  const tooLarge = apiError(
    413,
    `Request body too large: the limit is ${limit} bytes (local.max_body_bytes)`,
  );
  if (declared > limit) return tooLarge;
  if (!request.body) return apiError(400, "Invalid request: the body is empty; send a JSON object");
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > limit) return tooLarge;
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return { value: JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) };
  } catch (error) {
    return apiError(400, `Invalid JSON body: ${(error as Error).message}`);
  }
}

/** Compares two secrets in time that does not depend on where they differ. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
