/**
 * Calling the running gateway over its control socket (see
 * `control_server.ts` for the protocol). The CLI uses this when a gateway
 * runs and falls back to the state files when no socket answers.
 *
 * @module
 */

import { HermesError } from "../errors.ts";
import { writeAll } from "../util/write_all.ts";

/**
 * Sends one request and returns its result. Throws a HermesError with code
 * `control_unavailable` when nothing answers within `timeoutMs` (no socket,
 * a dead gateway, a hung one), or `control_error` with the gateway's own
 * code and message when it refuses the request.
 *
 * @example
 * ```ts
 * const status = await callControl("/srv/hermes/gateway.sock", "status");
 * ```
 */
export async function callControl(
  path: string,
  method: string,
  params: Readonly<Record<string, unknown>> = {},
  options: { timeoutMs?: number } = {},
): Promise<unknown> {
  let conn: Deno.UnixConn | undefined;
  const timer = setTimeout(() => {
    try {
      conn?.close();
    } catch {
      // already closed
    }
  }, options.timeoutMs ?? 2_000);
  try {
    conn = await Deno.connect({ transport: "unix", path });
    await writeAll(
      conn,
      new TextEncoder().encode(`${JSON.stringify({ id: 1, method, params })}\n`),
    );
    const line = await readLine(conn);
    const answer = JSON.parse(line) as {
      ok?: boolean;
      result?: unknown;
      error?: { code?: string; message?: string };
    };
    if (answer.ok) return answer.result;
    throw new HermesError(
      "control_error",
      `The gateway refused "${method}": ${answer.error?.message ?? "no reason given"}`,
    );
  } catch (error) {
    if (error instanceof HermesError) throw error;
    throw new HermesError(
      "control_unavailable",
      `No answer on the control socket ${path}: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // closed by the timeout
    }
  }
}

async function readLine(conn: Deno.Conn): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(16 * 1024);
  let text = "";
  while (!text.includes("\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("the gateway closed the connection without answering");
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  return text.slice(0, text.indexOf("\n"));
}
