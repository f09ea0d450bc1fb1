/**
 * The control socket `$HERMES_HOME/gateway.sock`: a Unix domain socket (mode
 * 0600, so only the home's owner can talk to it) on which the running gateway
 * answers the CLI.
 *
 * Protocol: newline-delimited JSON. A request is
 * `{"id": 1, "method": "status", "params": {}}`; the answer carries the same
 * id and either `{"ok": true, "result": ...}` or
 * `{"ok": false, "error": {"code": "unknown_method", "message": "..."}}`
 * (a method's deliberate refusal carries its own code, such as `usage`, and
 * may add a `hint`).
 * A connection may send several requests. Lines over 64 KiB are refused and
 * the connection closed; malformed lines get a `bad_request` answer.
 *
 * @module
 */

import { HermesError, UsageError } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import { writeAll } from "../util/write_all.ts";

/** Longest request line accepted. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Longest Unix socket path most systems accept (sun_path minus the NUL). */
const MAX_SOCKET_PATH = 103;

/** A method the gateway serves: params in, a JSON-serialisable result out. */
export type ControlMethod = (params: Readonly<Record<string, unknown>>) => unknown;

/** A running control socket server. */
export interface ControlServer extends AsyncDisposable {
  readonly path: string;
  /** Stops listening, closes every connection and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Listens on `path` and serves `methods`. A socket file left by a dead
 * gateway is replaced (the caller holds the runtime lock). Returns undefined,
 * after logging why, when the socket cannot be created: the gateway works on
 * without it and the CLI falls back to the state files.
 *
 * @example
 * ```ts
 * const server = await serveControl(paths.controlSocket, { status: () => snapshot() }, log);
 * ```
 */
export async function serveControl(
  path: string,
  methods: Readonly<Record<string, ControlMethod>>,
  log: Logger,
): Promise<ControlServer | undefined> {
  if (new TextEncoder().encode(path).length > MAX_SOCKET_PATH) {
    log.warn("control socket disabled: its path is too long for a Unix socket", {
      path,
      fix: "use a shorter HERMES_HOME",
    });
    return undefined;
  }
  let listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  try {
    await Deno.remove(path).catch(() => {});
    listener = Deno.listen({ transport: "unix", path });
    await Deno.chmod(path, 0o600);
  } catch (error) {
    log.warn("control socket disabled: cannot listen", { path, error });
    return undefined;
  }
  const connections = new Set<Deno.UnixConn>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections.add(conn);
        serveConnection(conn, methods, log).finally(() => connections.delete(conn));
      }
    } catch {
      // listener closed
    }
  })();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    listener.close();
    for (const conn of connections) closeQuietly(conn);
    await accepting;
    await Deno.remove(path).catch(() => {});
  };
  return { path, close, [Symbol.asyncDispose]: close };
}

async function serveConnection(
  conn: Deno.UnixConn,
  methods: Readonly<Record<string, ControlMethod>>,
  log: Logger,
): Promise<void> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  const buffer = new Uint8Array(16 * 1024);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) return;
      pending += decoder.decode(buffer.subarray(0, n), { stream: true });
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() === "") continue;
        const answer = await answerLine(line, methods, log);
        await writeAll(conn, encoder.encode(`${JSON.stringify(answer)}\n`));
      }
      if (pending.length > MAX_REQUEST_BYTES) {
        const error = { code: "too_large", message: `Request over ${MAX_REQUEST_BYTES} bytes` };
        await writeAll(conn, encoder.encode(`${JSON.stringify({ id: null, ok: false, error })}\n`));
        return;
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) {
      log.debug("control connection ended with an error", { error });
    }
  } finally {
    closeQuietly(conn);
  }
}

async function answerLine(
  line: string,
  methods: Readonly<Record<string, ControlMethod>>,
  log: Logger,
): Promise<Record<string, unknown>> {
  let request: Record<string, unknown>;
  try {
    request = JSON.parse(line);
    if (typeof request !== "object" || request === null || Array.isArray(request)) {
      throw new TypeError("not an object");
    }
  } catch {
    return failure(null, "bad_request", "Cannot parse the request: expected one JSON object");
  }
  const id = request.id ?? null;
  const name = request.method;
  if (typeof name !== "string" || !Object.hasOwn(methods, name)) {
    const known = Object.keys(methods).join(", ");
    return failure(id, "unknown_method", `Unknown method "${String(name)}"; known: ${known}`);
  }
  const params = typeof request.params === "object" && request.params !== null
    ? request.params as Record<string, unknown>
    : {};
  try {
    return { id, ok: true, result: await methods[name]!(params) ?? null };
  } catch (error) {
    // A deliberate refusal keeps its code (`usage`: the caller asked for something impossible).
    if (error instanceof HermesError) {
      log.debug("control method refused", { method: name, code: error.code, error });
      const hint = error instanceof UsageError ? error.hint : error.hints[0];
      return failure(id, error.code, error.message, hint);
    }
    log.warn("control method failed", { method: name, error });
    return failure(id, "failed", error instanceof Error ? error.message : String(error));
  }
}

function failure(id: unknown, code: string, message: string, hint?: string) {
  return { id, ok: false, error: { code, message, ...(hint ? { hint } : {}) } };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
