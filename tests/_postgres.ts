/**
 * A throwaway PostgreSQL server for tests: started once per test process,
 * lazily (the first test that asks for a database), as the unprivileged
 * `postgres` user when the tests run as root (PostgreSQL refuses root), in a
 * temporary data folder, on a free port of 127.0.0.1 with its socket in that
 * folder; stopped and removed when the process exits. Each test gets a
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

let server: Promise<PostgresServer> | undefined;

/**
 * The test process's server, started on first use.
 *
 * @example
 * ```ts
 * const { adminUrl } = await postgresServer();
 * ```
 */
export function postgresServer(): Promise<PostgresServer> {
  server ??= start();
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

/** Runs a server program, as the `postgres` user when we are root. */
async function asServerUser(program: string, args: string[]): Promise<string> {
  const [cmd, ...rest] = Deno.uid() === 0
    ? ["runuser", "-u", "postgres", "--", program, ...args]
    : [program, ...args];
  const out = await new Deno.Command(cmd!, { args: rest, stdin: "null" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`Cannot run ${program} ${args.join(" ")} (exit ${out.code}): ${text.trim()}`);
  }
  return text;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

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
  const data = `${dir}/data`;
  const stop = () => {
    try {
      const args = ["stop", "-D", data, "-m", "immediate", "-s"];
      const [cmd, ...rest] = Deno.uid() === 0
        ? ["runuser", "-u", "postgres", "--", `${bin}/pg_ctl`, ...args]
        : [`${bin}/pg_ctl`, ...args];
      new Deno.Command(cmd!, { args: rest, stdin: "null", stdout: "null", stderr: "null" })
        .outputSync();
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
  try {
    await asServerUser(`${bin}/initdb`, [
      "-D",
      data,
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--locale=C.UTF-8",
      "--no-sync",
    ]);
    let port = 0;
    for (let tries = 1;; tries++) {
      port = freePort();
      const options = [
        "-c listen_addresses=127.0.0.1",
        `-c port=${port}`,
        `-c unix_socket_directories=${dir}`,
        // A test server: speed over durability (the durability tests are SQLite's).
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c max_connections=200",
      ].join(" ");
      try {
        await asServerUser(`${bin}/pg_ctl`, [
          "start",
          "-D",
          data,
          "-w",
          "-s",
          "-l",
          `${dir}/server.log`,
          "-o",
          options,
        ]);
        break;
      } catch (error) {
        if (tries === 3) throw error; // the port was taken in between, three times
      }
    }
    globalThis.addEventListener("unload", stop);
    return { host: "127.0.0.1", port, adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres` };
  } catch (error) {
    stop();
    throw error;
  }
}
