/**
 * The search indexes, brought up to date in the background: a message is
 * stored without them (an FTS5 insert per message and commit is the most
 * expensive part of storing it), and the indexer adds every message past a
 * watermark to the three indexes in batches, the watermark moving in the
 * same transaction, so a crash at any moment leaves each message either
 * indexed once or still waiting.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { cached } from "./database.ts";
import { cjkBigrams } from "../_cjk.ts";
import type { SearchLag } from "../state_store.ts";

/**
 * Indexes transcripts past the watermark.
 *
 * @example
 * ```ts
 * import { openDatabase, transaction } from "./database.ts";
 * import { STATE_MIGRATIONS } from "./migrations.ts";
 * const db = openDatabase("/srv/hermes/state.db", STATE_MIGRATIONS);
 * const index = new SearchIndex(db);
 * transaction(db, () => index.catchUp(500)); // the next 500 messages, searchable once committed
 * index.lag(); // { messages: 0 }
 * ```
 */
export class SearchIndex {
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /**
   * Indexes up to `limit` messages past the watermark and moves it; call
   * inside a transaction. Returns how many it indexed (fewer than `limit`:
   * it caught up).
   */
  catchUp(limit: number): number {
    const from = this.#watermark();
    if (from === undefined) return 0;
    const rows = cached(
      this.#db,
      "SELECT id, text FROM messages WHERE id > ? ORDER BY id LIMIT ?",
    ).all(from, limit) as { id: number; text: string }[];
    if (rows.length === 0) return 0;
    const through = rows.at(-1)!.id;
    // The two content tables read the text from `messages` themselves, in one statement each.
    for (const table of ["messages_words", "messages_trigram"]) {
      cached(
        this.#db,
        `INSERT INTO ${table} (rowid, text) SELECT id, text FROM messages WHERE id > ? AND id <= ?`,
      ).run(from, through);
    }
    const bigrams = cached(this.#db, "INSERT INTO messages_bigram (rowid, grams) VALUES (?, ?)");
    for (const { id, text } of rows) {
      const grams = cjkBigrams(text);
      if (grams) bigrams.run(id, grams);
    }
    cached(this.#db, "UPDATE search_progress SET indexed_through = ?").run(through);
    return rows.length;
  }

  /**
   * Takes messages about to be deleted out of the three indexes; call in the
   * transaction that deletes them, before the delete (the two content tables
   * need the text they indexed). Messages past the watermark were never
   * indexed: once deleted, the indexer does not find them.
   */
  remove(rows: readonly { id: number; text: string }[]): void {
    const through = this.#watermark() ?? Number.MAX_SAFE_INTEGER; // older schemas indexed all
    for (const { id, text } of rows) {
      if (id > through) continue;
      for (const table of ["messages_words", "messages_trigram"]) {
        cached(
          this.#db,
          `INSERT INTO ${table} (${table}, rowid, text) VALUES ('delete', ?, ?)`,
        ).run(id, text);
      }
      if (cjkBigrams(text)) {
        cached(this.#db, "DELETE FROM messages_bigram WHERE rowid = ?").run(id);
      }
    }
  }

  /**
   * After messages were deleted: the watermark comes down to the newest
   * message left. SQLite numbers a new message after the highest id left,
   * so a watermark above it would take the next messages for indexed.
   */
  settle(): void {
    if (this.#watermark() === undefined) return;
    cached(
      this.#db,
      `UPDATE search_progress SET indexed_through =
         min(indexed_through, COALESCE((SELECT max(id) FROM messages), 0))`,
    ).run();
  }

  /** How many stored messages the indexes do not hold yet, and since when. */
  lag(): SearchLag {
    const from = this.#watermark();
    if (from === undefined) return { messages: 0 }; // an older schema indexed as it stored
    const row = cached(
      this.#db,
      "SELECT count(*) AS n, min(created_at) AS since FROM messages WHERE id > ?",
    ).get(from) as { n: number; since: string | null };
    return row.n === 0 ? { messages: 0 } : { messages: row.n, since: row.since ?? undefined };
  }

  #watermark(): number | undefined {
    try {
      const row = cached(this.#db, "SELECT indexed_through FROM search_progress").get() as
        | { indexed_through: number }
        | undefined;
      return row?.indexed_through;
    } catch {
      return undefined; // no search_progress table: a database of schema 6 or older, read-only
    }
  }
}
