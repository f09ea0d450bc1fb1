/**
 * When the search indexer runs: within INDEX_DELAY_MS of a message being
 * stored, in batches that share the group commit's transactions with the
 * replies (small enough not to hold them up), again at once while a batch
 * comes back full, and again after INDEX_RETRY_MS when one fails (a busy or
 * full disk: the watermark waits, and `sessions search` shows the lag).
 *
 * @module
 */

import type { GroupCommit } from "./group_commit.ts";
import type { SearchIndex } from "./search_index.ts";

/** How long a stored message waits at most before the indexer looks at it. */
const INDEX_DELAY_MS = 200;
/** Messages indexed per unit of work. */
const INDEX_BATCH = 256;
/** How long the indexer waits after a batch failed. */
const INDEX_RETRY_MS = 5_000;

/**
 * Schedules `index` on `commits`.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { GroupCommit } from "./group_commit.ts";
 * import { SearchIndex } from "./search_index.ts";
 * const db = new DatabaseSync("/srv/hermes/state.db");
 * const indexer = new BackgroundIndexer(new SearchIndex(db), new GroupCommit(db));
 * indexer.soon(); // a message was stored
 * await indexer.catchUp(); // before a search: everything stored so far is indexed
 * indexer.stop();
 * ```
 */
export class BackgroundIndexer {
  readonly #index: SearchIndex;
  readonly #commits: GroupCommit;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(index: SearchIndex, commits: GroupCommit) {
    this.#index = index;
    this.#commits = commits;
  }

  /** Asks for a run within `delayMs` (one run serves every message stored before it). */
  soon(delayMs = INDEX_DELAY_MS): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timer = undefined; // messages stored from now on ask for the next run
      this.#commits.run(() => this.#index.catchUp(INDEX_BATCH)).then(
        (indexed) => indexed === INDEX_BATCH && this.soon(0),
        () => this.soon(INDEX_RETRY_MS),
      );
    }, delayMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Indexes everything stored so far, batch by batch; resolves once it is committed. */
  async catchUp(): Promise<void> {
    while (await this.#commits.run(() => this.#index.catchUp(INDEX_BATCH)) === INDEX_BATCH);
  }

  /** No run is started any more (the store closes, indexing what waits itself). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
