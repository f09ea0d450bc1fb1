/**
 * A throwaway PostgreSQL server for tests: started once per test process,
 * when a test file first imports this module, as the unprivileged
 * `postgres` user when the tests run as root (PostgreSQL refuses root), in a
 * temporary data folder, on a free port of 127.0.0.1 with its socket in that
 * folder; stopped and removed when the process ends, however it ends. Each test gets a
 * database of its own. No PostgreSQL installed is an error, never a skip:
 * `deno task test` installs Debian's `postgresql` when it is missing.
 *
 * @module
 */

import postgres from "postgres";
import { findPostgresBin } from "../scripts/postgres_bin.ts";

/** The running server. */
export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  /** A URL of the maintenance database, as the superuser. */
  readonly adminUrl: string;
}

/**
 * The test process's server.
 *
 * @example
 * ```ts
 * const { adminUrl } = await postgresServer();
 * ```
 */
export function postgresServer(): Promise<PostgresServer> {
  return server;
}

let databases = 0;

/**
 * A new, empty database on the test server; resolves with its URL. It lives
 * until the server stops with the process.
 *
 * @example
 * ```ts
 * const url = await freshDatabase(); // postgres://postgres@127.0.0.1:54321/hermes_test_...
 * ```
 */
export async function freshDatabase(): Promise<string> {
  const { adminUrl, host, port } = await postgresServer();
  const name = `hermes_test_${Deno.pid}_${++databases}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return `postgres://postgres@${host}:${port}/${name}`;
}

const byKey = new Map<string, Promise<string>>();

/**
 * The database of `key` (the same key, the same database): what a
 * conformance test's folder stands for, so a reopen finds the same state.
 *
 * @example
 * ```ts
 * const url = await databaseFor("/tmp/hermes-test-abc");
 * ```
 */
export function databaseFor(key: string): Promise<string> {
  let url = byKey.get(key);
  if (!url) byKey.set(key, url = freshDatabase());
  return url;
}

/** `program args` as the `postgres` user when we are root (PostgreSQL refuses root). */
function asServerUser(program: string, args: string[]): [string, string[]] {
  return Deno.uid() === 0
    ? [runuser(), ["-u", "postgres", "--", program, ...args]]
    : [program, args];
}

/** util-linux's runuser, which lives in sbin (not on every root's PATH). */
function runuser(): string {
  for (const path of ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  return "runuser";
}

async function run(program: string, args: string[]): Promise<void> {
  const [cmd, rest] = asServerUser(program, args);
  const out = await new Deno.Command(cmd, { args: rest, stdin: "null" }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    throw new Error(`Cannot run ${program} (exit ${out.code}): ${text.trim()}`);
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * The server runs under a small shell that waits for its standard input to
 * close: this process holds the other end, so however it ends (a normal
 * exit, a failed test, kill -9), the shell then stops the server and
 * removes its folder. It ignores the signals a terminal or `timeout` sends
 * the whole process group, so it stays to clean up.
 */
const WATCHDOG = `
  trap '' HUP INT TERM
  "$0" -D "$1/data" -c listen_addresses=127.0.0.1 -c port="$2" -c unix_socket_directories="$1" \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
    </dev/null >"$1/server.log" 2>&1 &
  pid=$!
  read -r _ || true
  kill -QUIT "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "$1"
`;

async function start(): Promise<PostgresServer> {
  const bin = findPostgresBin();
  if (!bin) {
    throw new Error(
      "Cannot start the test PostgreSQL server: no initdb, pg_ctl and postgres found on PATH, in /usr/local/bin or /usr/lib/postgresql/*/bin; install PostgreSQL (apt-get install postgresql) or run deno task test, which installs it",
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "hermes-pg-" });
  if (Deno.uid() === 0) {
    const id = (flag: string) =>
      Number(
        new TextDecoder().decode(
          new Deno.Command("id", { args: [flag, "postgres"] }).outputSync().stdout,
        ).trim(),
      );
    await Deno.chown(dir, id("-u"), id("-g"));
  }
  try {
    await run(`${bin}/initdb`, [
      "-D",
      `${dir}/data`,
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--locale=C.UTF-8",
      "--no-sync",
    ]);
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const port = freePort();
  const [cmd, args] = asServerUser("/bin/sh", ["-c", WATCHDOG, `${bin}/postgres`, dir, `${port}`]);
  const watchdog = new Deno.Command(cmd, { args, stdin: "piped", stdout: "null", stderr: "null" })
    .spawn();
  watchdog.unref(); // the open stdin is the leash; it must not keep this process alive
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  for (let tries = 0;; tries++) {
    const sql = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 2 });
    try {
      await sql`SELECT 1`;
      break;
    } catch (error) {
      if (tries >= 200) {
        const log = await Deno.readTextFile(`${dir}/server.log`).catch(() => "");
        throw new Error(`Cannot start the test PostgreSQL server: ${log.trim() || error}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50)); // polls until it accepts
    } finally {
      await sql.end({ timeout: 0 });
    }
  }
  return { host: "127.0.0.1", port, adminUrl };
}

// Started when this module is first imported (by a test file that needs it), before any test
// runs: the watchdog's process and pipe then belong to no test, so the sanitizers stay on.
const server: Promise<PostgresServer> = start();
await server.catch(() => {}); // a failure is reported by the first test that asks
