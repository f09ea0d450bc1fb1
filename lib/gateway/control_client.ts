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
 * The gateway answered a request with a refusal: its own `reason` code
 * (`usage` when the request asked for something impossible, `unknown_method`,
 * `failed`, ...), its message and hint. Its `code` is `control_error`.
 */
export class ControlRefusal extends HermesError {
  /** The gateway's code for the refusal. */
  readonly reason: string;
  /** The gateway's message, without the "The gateway refused" prefix. */
  readonly detail: string;
  /** What to do instead, when the gateway said. */
  readonly hint: string | undefined;

  constructor(method: string, error: { code?: string; message?: string; hint?: string }) {
    const detail = error.message ?? "no reason given";
    super("control_error", `The gateway refused "${method}": ${detail}`, {
      hints: error.hint ? [error.hint] : [],
    });
    this.name = "ControlRefusal";
    this.reason = error.code ?? "failed";
    this.detail = detail;
    this.hint = error.hint;
  }
}

/**
 * Sends one request and returns its result. Throws a HermesError with code
 * `control_unavailable` when nothing answers within `timeoutMs` (no socket,
 * a dead gateway, a hung one), or a {@linkcode ControlRefusal} (code
 * `control_error`) with the gateway's own code and message when it refuses
 * the request.
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
      error?: { code?: string; message?: string; hint?: string };
    };
    if (answer.ok) return answer.result;
    throw new ControlRefusal(method, answer.error ?? {});
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
