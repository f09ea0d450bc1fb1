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
 * Bounds: a connection that sends nothing for {@linkcode IDLE_TIMEOUT_MS}
 * while the server waits for its next request is closed (the time a method
 * takes to answer does not count), and at most {@linkcode MAX_CONNECTIONS}
 * are served at once: one more gets the single line
 * `{"id":null,"ok":false,"error":{"code":"busy",...}}` and is closed.
 *
 * The socket is bound inside a fresh 0700 folder beside its path, made 0600
 * there and renamed into place, so it never exists at its path with a looser
 * mode (the process umask is left alone: it is process-wide, and
 * `Deno.umask` is unstable).
 *
 * @module
 */

import { HermesError, UsageError } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import { writeAll } from "../util/write_all.ts";

/** Longest request line accepted. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** How long a connection may stay silent while the server waits for its next request. */
export const IDLE_TIMEOUT_MS = 10_000;
/** Most connections served at once; one more is refused with a `busy` answer. */
export const MAX_CONNECTIONS = 64;
/** Longest Unix socket path most systems accept (sun_path minus the NUL). */
const MAX_SOCKET_PATH = 103;

/** A method the gateway serves: params in, a JSON-serialisable result out. */
export type ControlMethod = (params: Readonly<Record<string, unknown>>) => unknown;

/** Limits of {@linkcode serveControl}; tests shorten them. */
export interface ControlServerOptions {
  /** Default {@linkcode IDLE_TIMEOUT_MS}. */
  readonly idleTimeoutMs?: number;
  /** Default {@linkcode MAX_CONNECTIONS}. */
  readonly maxConnections?: number;
}

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
 * import { hermesPaths } from "../config/home.ts";
 * import type { Logger } from "../util/log.ts";
 * import type { Gateway } from "./gateway.ts";
 * declare const gateway: Gateway, log: Logger;
 * const paths = hermesPaths("/srv/hermes");
 * const methods = { status: () => gateway.snapshot() };
 * const server = await serveControl(paths.controlSocket, methods, log);
 * ```
 */
export async function serveControl(
  path: string,
  methods: Readonly<Record<string, ControlMethod>>,
  log: Logger,
  options: ControlServerOptions = {},
): Promise<ControlServer | undefined> {
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  const longest = Math.max(
    ...[path, stagingPath(path, "000000")].map((p) => new TextEncoder().encode(p).length),
  );
  if (longest > MAX_SOCKET_PATH) {
    log.warn("control socket disabled: its path is too long for a Unix socket", {
      path,
      fix: "use a shorter HERMES_HOME",
    });
    return undefined;
  }
  let listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  try {
    listener = await listenPrivately(path);
  } catch (error) {
    log.warn("control socket disabled: cannot listen", { path, error });
    return undefined;
  }
  const connections = new Set<Deno.UnixConn>();
  const refused = new Set<Deno.UnixConn>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        if (connections.size >= maxConnections) {
          refused.add(conn);
          refuse(conn, maxConnections, log).finally(() => refused.delete(conn));
          continue;
        }
        connections.add(conn);
        serveConnection(conn, methods, log, idleTimeoutMs)
          .finally(() => connections.delete(conn));
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
    for (const conn of [...connections, ...refused]) closeQuietly(conn);
    await accepting;
    await Deno.remove(path).catch(() => {});
  };
  return { path, close, [Symbol.asyncDispose]: close };
}

/** `<folder of path>/.c<random>/s`: no longer than `path` for any name of 10 or more bytes. */
function stagingPath(path: string, random: string): string {
  const slash = path.lastIndexOf("/");
  const parent = slash < 0 ? "." : path.slice(0, slash) || "/";
  return `${parent === "/" ? "" : parent}/.c${random}/s`;
}

/**
 * Binds the socket in a fresh folder only this user can enter, makes it 0600
 * there, then renames it to `path` (replacing a file left by a dead gateway
 * in one step), so that at `path` it is 0600 and listening from the start.
 */
async function listenPrivately(path: string): Promise<Deno.Listener<Deno.UnixConn, Deno.UnixAddr>> {
  await removeLeftStaging(path);
  let staging = "";
  for (let attempt = 0;; attempt++) {
    const random = [...crypto.getRandomValues(new Uint8Array(3))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    staging = stagingPath(path, random);
    try {
      await Deno.mkdir(staging.slice(0, -2), { mode: 0o700 });
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists) || attempt >= 4) throw error;
    }
  }
  const folder = staging.slice(0, -2);
  try {
    // mkdir's mode is masked by the umask; only ever tighter, but make it exact.
    await Deno.chmod(folder, 0o700);
    const listener = Deno.listen({ transport: "unix", path: staging });
    try {
      await Deno.chmod(staging, 0o600);
      await Deno.rename(staging, path);
    } catch (error) {
      listener.close();
      throw error;
    }
    return listener;
  } finally {
    await Deno.remove(folder, { recursive: true }).catch(() => {});
  }
}

/**
 * Removes the staging folders a gateway killed while binding left beside
 * `path` (only the gateway holding the home's runtime lock binds there).
 */
async function removeLeftStaging(path: string): Promise<void> {
  const folder = stagingPath(path, "000000").slice(0, -"/.c000000/s".length) || "/";
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (entry.isDirectory && STAGING_NAME.test(entry.name)) {
        await Deno.remove(`${folder}/${entry.name}`, { recursive: true }).catch(() => {});
      }
    }
  } catch {
    // an unreadable folder: binding below says what is wrong
  }
}

/** The name of a staging folder, as {@linkcode stagingPath} makes it. */
const STAGING_NAME = /^\.c[0-9a-f]{6}$/;

/** Tells a connection over the cap why it is closed, then closes it. */
async function refuse(conn: Deno.UnixConn, max: number, log: Logger): Promise<void> {
  log.warn("control connection refused: too many open", { max });
  const error = {
    code: "busy",
    message: `Too many control connections (${max} open): try again when one has closed`,
  };
  try {
    await writeAll(
      conn,
      new TextEncoder().encode(`${JSON.stringify(failure(null, error.code, error.message))}\n`),
    );
  } catch {
    // the client is gone already
  } finally {
    closeQuietly(conn);
  }
}

async function serveConnection(
  conn: Deno.UnixConn,
  methods: Readonly<Record<string, ControlMethod>>,
  log: Logger,
  idleTimeoutMs: number,
): Promise<void> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  const buffer = new Uint8Array(16 * 1024);
  let idle = false;
  try {
    while (true) {
      // Only the wait for the client counts as idle, not the time a method takes to answer.
      const timer = setTimeout(() => {
        idle = true;
        closeQuietly(conn);
      }, idleTimeoutMs);
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } finally {
        clearTimeout(timer);
      }
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
    if (idle) {
      log.debug("control connection closed: idle", { idle_timeout_ms: idleTimeoutMs });
    } else if (!(error instanceof Deno.errors.BadResource)) {
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
