/**
 * The PostgreSQL URL of `storage.url`: checked without loading the driver
 * (the configuration checks it), and masked wherever it is shown.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/**
 * `url` with its password masked, for messages and logs.
 *
 * @example
 * ```ts
 * maskUrl("postgres://hermes:s3cret@db:5432/hermes"); // "postgres://hermes:***@db:5432/hermes"
 * ```
 */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    // Not a URL: mask whatever sits between "user:" and "@".
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, "$1***@");
  }
}

/**
 * Checks that `url` is a PostgreSQL URL; throws a ConfigError naming the
 * fix otherwise.
 *
 * @example
 * ```ts
 * checkPostgresUrl("postgres://hermes@db.internal:5432/hermes");
 * ```
 */
export function checkPostgresUrl(url: string | undefined): string {
  const problem = postgresUrlProblem(url);
  if (problem) {
    throw new ConfigError(`Cannot use the postgres storage backend: storage.url is ${problem}`);
  }
  return url!;
}

/**
 * What is wrong with `url` as the database URL, or undefined when nothing
 * is (the value itself is never repeated: it may hold a password).
 *
 * @example
 * ```ts
 * postgresUrlProblem("mysql://db/hermes");
 * // "not a postgres:// URL; write it as postgres://user:password@host:5432/database"
 * ```
 */
export function postgresUrlProblem(url: string | undefined): string | undefined {
  if (!url) {
    return "missing; set it (or HERMES_DATABASE_URL) to postgres://user:password@host:5432/database";
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !["postgres:", "postgresql:"].includes(parsed.protocol) || !parsed.hostname) {
    return "not a postgres:// URL; write it as postgres://user:password@host:5432/database";
  }
  return undefined;
}
