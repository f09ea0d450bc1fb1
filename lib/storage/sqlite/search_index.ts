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
