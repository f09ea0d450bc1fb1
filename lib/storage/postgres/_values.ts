/**
 * Values as PostgreSQL can keep them: its `text` and `jsonb` hold no NUL
 * character (SQLite's do), so one in a message would fail its unit of work.
 *
 * @module
 */

import type { Queryable } from "./database.ts";

/**
 * `value` as a `jsonb` parameter of a query on `q` (see {@linkcode jsonOf}).
 *
 * @example
 * ```ts
 * import type { SessionSource } from "../../platforms/event.ts";
 * import type { Tx } from "./database.ts";
 * declare const tx: Tx, source: SessionSource, id: number;
 * await tx`UPDATE outbox SET target = ${asJson(tx, source)} WHERE id = ${id}`;
 * ```
 */
export function asJson(q: Queryable, value: unknown) {
  return q.json(jsonOf(value) as never);
}

/**
 * `value` as the JSON PostgreSQL keeps: what JSON.stringify would write
 * (undefined fields dropped), with NUL characters, which `jsonb` cannot
 * hold, replaced by U+FFFD.
 *
 * @example
 * ```ts
 * jsonOf({ text: "a\u0000b", gone: undefined }); // { text: "a\uFFFDb" }
 * ```
 */
export function jsonOf<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value, (_key, field) => typeof field === "string" ? textOf(field) : field),
  );
}

/**
 * `text` as a PostgreSQL `text` column keeps it: NUL characters, which it
 * cannot hold, replaced by U+FFFD.
 *
 * @example
 * ```ts
 * textOf("a\u0000b"); // "a\uFFFDb"
 * ```
 */
export function textOf(text: string): string {
  return text.includes("\0") ? text.replaceAll("\0", "\ufffd") : text;
}
