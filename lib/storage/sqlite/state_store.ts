/**
 * The embedded {@linkcode StateStore}: `state.db`, SQLite in WAL mode. Each
 * method is one unit of work; the units asked for in the same turn of the
 * event loop share one transaction (`group_commit.ts`), and each promise
 * settles once its unit is committed.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { ChatType, Json, MessageEvent, SessionSource } from "../../platforms/event.ts";
import {
  type Audience,
  chatKeyOf,
  type ChatMessage,
  type ExpiredSessions,
  type Expiry,
  type FinishedPruneCounts,
  type InboundEntry,
  type LedgerEntry,
  type MessageKind,
  type NewPart,
  type OutboxCounts,
  type OutboxPart,
  type SearchHit,
  type SearchLag,
  type SearchOptions,
  type SessionPruneCounts,
  type SessionRecord,
  type StateStore,
  type StoredMessage,
} from "../state_store.ts";
import { openDatabase, transaction } from "./database.ts";
import { GroupCommit } from "./group_commit.ts";
import { InboundJournal, OPERATOR_MESSAGE_PREFIX } from "./journal.ts";
import { STATE_MIGRATIONS } from "./migrations.ts";
import { OutboundLedger } from "./outbound_ledger.ts";
import { OutboxRows } from "./outbox_rows.ts";
import { BackgroundIndexer } from "./background_indexer.ts";
import { FirstTryClaims } from "./first_try_claims.ts";
import { MaintenanceRuns } from "./maintenance_runs.ts";
import { SessionRetention } from "./retention.ts";
import { SearchIndex } from "./search_index.ts";
import { SessionStore } from "./sessions.ts";
import { type NewMessage, TranscriptStore } from "./transcripts.ts";

/** Finished rows a prune deletes per unit of work. */
const PRUNE_BATCH = 256;
/**
 * Messages a session prune deletes per unit of work: each takes its words
 * out of three search indexes, and replies wait for the unit they share a
 * commit with (a few milliseconds; more when FTS5 merges segments).
 */
const SESSION_PRUNE_BATCH = 32;
/**
 * After each unit, a prune waits this many times as long as the unit took:
 * it uses at most a quarter of the connection's time, whatever the load.
 */
const PRUNE_PAUSE_FACTOR = 3;
/**
 * And at least this long when other units of work (replies) came since its
 * last one: at most four units a second then, so that only about one reply
 * in a hundred meets one and their p99 holds (tests/bench/prune_bench.ts:
 * 0.99 of the p99 without a prune, against 1.24 with 50 ms).
 */
const PRUNE_BUSY_PAUSE_MS = 250;

/** Options of {@linkcode openSqliteStateStore}. */
export interface SqliteStoreOptions {
  readonly now?: () => Date;
  /** Open an existing file for reading only (the CLI's read commands). */
  readonly readOnly?: boolean;
  /** False: never migrate; a file of another schema throws (a CLI writing beside a gateway). */
  readonly migrate?: boolean;
  /** SQLite's fsync policy (`storage.synchronous`; default `full`). */
  readonly synchronous?: "full" | "normal";
}

/**
 * Opens (creating and migrating it when needed) the store in the SQLite
 * file at `path`.
 *
 * @example
 * ```ts
 * import type { MessageEvent } from "../../platforms/event.ts";
 * declare const event: MessageEvent;
 * const store = openSqliteStateStore("/srv/hermes/state.db");
 * const entry = await store.acceptInbound(event, "agent:main:local:dm:alice");
 * store.close();
 * ```
 */
export function openSqliteStateStore(
  path: string,
  options: SqliteStoreOptions = {},
): SqliteStateStore {
  return new SqliteStateStore(
    openDatabase(path, STATE_MIGRATIONS, {
      readOnly: options.readOnly,
      migrate: options.migrate,
      synchronous: options.synchronous,
    }),
    options.now,
    { readOnly: options.readOnly ?? false },
  );
}

/** The state of one gateway in one SQLite database. */
export class SqliteStateStore implements StateStore {
  readonly #db: DatabaseSync;
  readonly #journal: InboundJournal;
  readonly #ledger: OutboundLedger;
  readonly #outbox: OutboxRows;
  readonly #sessions: SessionStore;
  readonly #transcripts: TranscriptStore;
  readonly #index: SearchIndex;
  readonly #retention: SessionRetention;
  readonly #runs: MaintenanceRuns;
  /** Runs the index in the background; none for a read-only store. */
  readonly #indexer: BackgroundIndexer | undefined;
  readonly #now: () => Date;
  /** First tries counted with their replies, handed out to `startSending` once each. */
  readonly #claims: FirstTryClaims;
  /** Shared transactions; none for a read-only store (it writes nothing). */
  readonly #commits: GroupCommit | undefined;

  constructor(
    db: DatabaseSync,
    now: () => Date = () => new Date(),
    options: { readOnly?: boolean } = {},
  ) {
    this.#db = db;
    this.#now = now;
    this.#commits = options.readOnly ? undefined : new GroupCommit(db);
    this.#journal = new InboundJournal(db, now);
    this.#ledger = new OutboundLedger(db, now);
    this.#outbox = new OutboxRows(db, now);
    this.#claims = new FirstTryClaims(this.#outbox);
    this.#sessions = new SessionStore(db, now);
    this.#transcripts = new TranscriptStore(db);
    this.#index = new SearchIndex(db);
    this.#retention = new SessionRetention(db, this.#index);
    this.#runs = new MaintenanceRuns(db);
    this.#indexer = this.#commits && new BackgroundIndexer(this.#index, this.#commits);
    this.#indexer?.soon(); // what a crash left unindexed
  }

  acceptInbound(event: MessageEvent, sessionKey: string): Promise<InboundEntry | undefined> {
    return this.#run(() =>
      transaction(this.#db, () => {
        return this.#journal.accept(event, sessionKey);
      })
    );
  }

  admitInbound(entry: InboundEntry): Promise<void> {
    const chat = chatKeyOf(entry.event.source);
    // Most messages bring no reply context and find nothing waiting: a read, no unit of work.
    if (
      entry.event.replyContext === undefined && !this.#commits?.pending &&
      !this.#outbox.waiting(chat)
    ) {
      return Promise.resolve();
    }
    return this.#run(() =>
      transaction(this.#db, () => {
        const { event } = entry;
        if (event.replyContext !== undefined) {
          this.#outbox.saveContext(chat, event.replyContext, event.receivedAt);
        }
        this.#outbox.wake(chat);
      })
    );
  }

  inboundReplyContext(inboundId: number): Promise<Json | undefined> {
    return this.#read(() => this.#journal.get(inboundId)?.event.replyContext);
  }

  unfinishedInbound(): Promise<InboundEntry[]> {
    return this.#read(() => this.#journal.pending());
  }

  interruptedInbound(sessionKey: string): Promise<InboundEntry[]> {
    return this.#read(() => this.#journal.interrupted(sessionKey));
  }

  markInterrupted(ids: readonly number[]): Promise<void> {
    return this.#run(() => transaction(this.#db, () => this.#journal.interrupt(ids)));
  }

  countAttempt(id: number): Promise<number> {
    return this.#run(() => this.#journal.attempt(id));
  }

  finishInbound(id: number, state: "done" | "failed", outcome: string): Promise<void> {
    return this.#run(() => this.#journal.finish(id, state, outcome));
  }

  findOpenSession(key: string): Promise<SessionRecord | undefined> {
    return this.#read(() => this.#sessions.findOpen(key));
  }

  sessionsOfKey(key: string): Promise<SessionRecord[]> {
    return this.#read(() => this.#sessions.history(key));
  }

  listSessions(
    options: { limit?: number; includeEnded?: boolean } = {},
  ): Promise<SessionRecord[]> {
    return this.#read(() => this.#sessions.list(options));
  }

  openSessionsAfter(afterId: number, limit: number): Promise<SessionRecord[]> {
    return this.#read(() => this.#sessions.openAfter(afterId, limit));
  }

  endSession(id: number, reason: string): Promise<void> {
    return this.#run(() => this.#sessions.end(id, reason));
  }

  expiredSessions(before: Date): Promise<ExpiredSessions> {
    return this.#read(() => this.#retention.expired(before));
  }

  async pruneSessions(
    before: Date,
    options: { signal?: AbortSignal } = {},
  ): Promise<SessionPruneCounts> {
    const total: SessionPruneCounts = { sessions: 0, messages: 0 };
    let units = this.#commits?.units ?? 0;
    while (!options.signal?.aborted) {
      const started = performance.now();
      const step = await this.#run(() =>
        transaction(this.#db, () => this.#retention.pruneBatch(before, SESSION_PRUNE_BATCH))
      );
      // Units of others committed since this prune's last one, or with this one.
      const others = (this.#commits?.units ?? 0) - units - 1;
      units = this.#commits?.units ?? 0;
      total.sessions += step.sessions;
      total.messages += step.messages;
      if (step.sessions === 0 && step.messages === 0) break;
      // Replies first: while others write, the prune goes at a walk.
      const took = performance.now() - started;
      await pause(Math.max(took * PRUNE_PAUSE_FACTOR, others > 0 ? PRUNE_BUSY_PAUSE_MS : 0));
    }
    return total;
  }

  lastMaintenance(task: string): Promise<string | undefined> {
    return this.#read(() => this.#runs.last(task));
  }

  recordMaintenance(task: string, at: Date): Promise<void> {
    return this.#run(() => this.#runs.record(task, at));
  }

  vacuum(): Promise<void> {
    return this.#run(() => undefined).then(() => this.#db.exec("VACUUM"));
  }

  history(
    sessionId: number,
    options: { limit?: number; audience?: Audience } = {},
  ): Promise<StoredMessage[]> {
    return this.#read(() =>
      this.#transcripts.history(sessionId, options.limit ?? 50, { audience: options.audience })
    );
  }

  chatHistory(
    chat: Pick<SessionSource, "platform" | "chatType" | "chatId">,
    limit: number,
  ): Promise<ChatMessage[]> {
    return this.#read(() => this.#transcripts.chatHistory(chat, limit));
  }

  /** A writable store indexes what waits first; a read-only one searches what is indexed. */
  async search(query: string, options: SearchOptions = {}): Promise<SearchHit[]> {
    await this.#indexer?.catchUp();
    return this.#read(() => this.#transcripts.search(query, options));
  }

  searchLag(): Promise<SearchLag> {
    return this.#read(() => this.#index.lag());
  }

  beginTurn(entry: InboundEntry, turn: { expired: Expiry; text: string }): Promise<SessionRecord> {
    return this.#run(() =>
      transaction(this.#db, () => {
        const session = this.#openSession(entry, turn.expired);
        this.#transcribe(entry, session, turn.text);
        return session;
      })
    );
  }

  answer(entry: InboundEntry, answer: {
    parts: readonly NewPart[];
    deadline: string;
    state: "done" | "failed";
    outcome: string;
    exchange?: { expired: Expiry };
  }): Promise<void> {
    return this.#run(() =>
      transaction(this.#db, () => {
        if (answer.exchange) {
          const session = this.#openSession(entry, answer.exchange.expired);
          const text = answer.parts.map((p) => p.text).join("\n\n");
          this.#append(entry, session, "user", entry.event.text, "command");
          this.#append(entry, session, "assistant", text, "command");
          this.#sessions.touch(session.id);
        }
        this.#queue(entry, answer.parts, answer.deadline);
        this.#journal.finish(entry.id, answer.state, answer.outcome);
      })
    );
  }

  supersede(entry: InboundEntry, turn: { expired: Expiry }): Promise<SessionRecord> {
    return this.#run(() =>
      transaction(this.#db, () => {
        const session = this.#openSession(entry, turn.expired);
        this.#transcribe(entry, session, entry.event.text);
        this.#journal.finish(entry.id, "done", "superseded by a newer message");
        return session;
      })
    );
  }

  completeTurn(
    entry: InboundEntry,
    completion: {
      sessionId: number;
      reply?: { text: string; kind: MessageKind };
      parts: readonly NewPart[];
      deadline: string;
      state: "done" | "failed";
      outcome: string;
    },
  ): Promise<void> {
    return this.#run(() =>
      transaction(this.#db, () => {
        this.#queue(entry, completion.parts, completion.deadline);
        if (completion.reply) {
          this.#store({
            sessionId: completion.sessionId,
            platform: entry.event.source.platform,
            role: "assistant",
            text: completion.reply.text,
            kind: completion.reply.kind,
          });
        }
        this.#journal.finish(entry.id, completion.state, completion.outcome);
        this.#sessions.touch(completion.sessionId);
      })
    );
  }

  deliveredPart(key: string): Promise<LedgerEntry | undefined> {
    return this.#read(() => this.#ledger.get(key));
  }

  recordPart(
    key: string,
    part: {
      platform: string;
      chat: string;
      state: "sending" | "sent";
      messageId: string;
      text: string;
    },
  ): Promise<void> {
    return this.#run(() => this.#ledger.record(key, part));
  }

  enqueueMessage(
    target: SessionSource,
    parts: readonly NewPart[],
    options: { deadline: string; origin: string },
  ): Promise<OutboxPart[]> {
    if (parts.length === 0) {
      return Promise.reject(new TypeError("Cannot enqueue a message: it has no parts"));
    }
    return this.#run(() =>
      transaction(this.#db, () => {
        const event: MessageEvent = {
          messageId: `${OPERATOR_MESSAGE_PREFIX}${crypto.randomUUID()}`,
          source: target,
          text: parts.map((p) => p.text).join("\n\n"),
          receivedAt: this.#now().toISOString(),
        };
        const chat = chatKeyOf(target);
        const id = this.#journal.recordFinished(
          event,
          `${OPERATOR_MESSAGE_PREFIX}${chat}`,
          `message from ${options.origin}`,
        );
        this.#outbox.add(
          { inboundId: id, target, replyTo: null, deadline: options.deadline },
          parts,
        );
        return this.#outbox.of(id);
      })
    );
  }

  knownChat(platform: string, chatId: string): Promise<SessionSource | undefined> {
    return this.#read(() => {
      const heard = this.#journal.newestSource(platform, chatId);
      if (heard) return heard;
      const session = this.#sessions.newestOfChat(platform, chatId);
      if (!session) return undefined;
      return {
        platform,
        chatType: session.chat_type as ChatType,
        chatId,
        ...(session.thread_id !== null ? { threadId: session.thread_id } : {}),
        ...(session.user_id !== null ? { userId: session.user_id } : {}),
      };
    });
  }

  openParts(): Promise<OutboxPart[]> {
    return this.#read(() => this.#outbox.open());
  }

  nextPart(chatKey: string): Promise<OutboxPart | undefined> {
    return this.#read(() => this.#outbox.next(chatKey));
  }

  partsOf(inboundId: number): Promise<OutboxPart[]> {
    return this.#read(() => this.#outbox.of(inboundId));
  }

  /** A reply's first part was counted with the reply (a read); any other try is a write. */
  startSending(id: number): Promise<number> {
    if (!this.#commits?.pending) {
      const claimed = this.#claims.take(id);
      if (claimed !== undefined) return Promise.resolve(claimed);
    }
    let counted = false;
    return this.#run(() => {
      const claimed = this.#claims.take(id);
      if (claimed !== undefined) return claimed;
      counted = true;
      return this.#outbox.startSending(id); // clears the claim too
    }).then((tries) => {
      if (counted) this.#claims.moved(id); // committed: no claim is left to hand out
      return tries;
    });
  }

  partSent(id: number, platformMessageId: string): Promise<void> {
    return this.#moved(id, () => this.#outbox.set(id, "sent", { messageId: platformMessageId }));
  }

  partFailed(
    id: number,
    failure: { code: string; message: string; notBefore: string },
  ): Promise<void> {
    return this.#moved(id, () =>
      this.#outbox.set(id, "failed", {
        code: failure.code,
        error: failure.message,
        notBefore: failure.notBefore,
      }));
  }

  partDeferred(id: number, deferral: { until: string; reason: string }): Promise<void> {
    const waiting = deferral.until === "next_inbound";
    return this.#moved(id, () =>
      this.#outbox.set(id, "deferred", {
        error: deferral.reason,
        notBefore: waiting ? null : deferral.until,
        waitingForInbound: waiting,
      }));
  }

  partUndeliverable(id: number, failure: { code: string; message: string }): Promise<void> {
    return this.#moved(
      id,
      () => this.#outbox.set(id, "undeliverable", { code: failure.code, error: failure.message }),
    );
  }

  replyContext(chatKey: string): Promise<Json | undefined> {
    return this.#read(() => this.#outbox.context(chatKey));
  }

  outboxCounts(): Promise<OutboxCounts> {
    return this.#read(() => this.#claims.underWay(this.#outbox.counts()));
  }

  async prune(
    before: Date,
    options: { signal?: AbortSignal } = {},
  ): Promise<FinishedPruneCounts> {
    const total: FinishedPruneCounts = { journal: 0, ledger: 0, outbox: 0 };
    while (!options.signal?.aborted) {
      const started = performance.now();
      const step = await this.#run(() =>
        transaction(this.#db, () => ({
          journal: this.#journal.prune(before, PRUNE_BATCH),
          ledger: this.#ledger.prune(before, PRUNE_BATCH),
          outbox: this.#outbox.prune(before, PRUNE_BATCH),
        }))
      );
      total.journal += step.journal;
      total.ledger += step.ledger;
      total.outbox += step.outbox;
      if (step.journal + step.ledger + step.outbox === 0) break;
      await pause((performance.now() - started) * PRUNE_PAUSE_FACTOR);
    }
    return total;
  }

  prunable(before: Date): Promise<FinishedPruneCounts> {
    return this.#read(() => ({
      journal: this.#journal.prunable(before),
      ledger: this.#ledger.prunable(before),
      outbox: this.#outbox.prunable(before),
    }));
  }

  /** Transactions committed so far (units share them). */
  get commits(): number {
    return this.#commits?.commits ?? 0;
  }

  close(): void {
    this.#indexer?.stop();
    this.#commits?.flush();
    // What waits is indexed now: a closed store leaves everything searchable.
    try {
      if (this.#commits) transaction(this.#db, () => this.#index.catchUp(Number.MAX_SAFE_INTEGER));
    } catch {
      // left for the indexer of the next open
    }
    this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Queues the reply's parts; when its chat waits on nothing else, its first try counts now. */
  #queue(entry: InboundEntry, parts: readonly NewPart[], deadline: string): void {
    const target = entry.event.source;
    this.#outbox.add(
      { inboundId: entry.id, target, replyTo: entry.event.messageId, deadline },
      parts,
    );
    if (parts.length > 0) this.#claims.claim(chatKeyOf(target), entry.id);
  }

  /**
   * Moves part `id` on with `write`; once that is committed, its counted
   * first try is no longer this run's to hand out (the write cleared it).
   */
  #moved(id: number, write: () => void): Promise<void> {
    return this.#run(write).then(() => this.#claims.moved(id));
  }

  /** The session of `entry`, ended first when it expired, opened when there is none. */
  #openSession(entry: InboundEntry, expired: Expiry): SessionRecord {
    const open = this.#sessions.findOpen(entry.sessionKey);
    if (open && open.message_count > 0) {
      const why = expired(open);
      if (why) this.#sessions.end(open.id, why);
    }
    return this.#sessions.open(entry.sessionKey, entry.event.source);
  }

  /** Stores the user's message of `entry` in its session, once however often it is asked. */
  #transcribe(entry: InboundEntry, session: Pick<SessionRecord, "id">, text: string): void {
    if (this.#journal.isTranscribed(entry.id) !== false) return;
    this.#journal.transcribed(entry.id, this.#append(entry, session, "user", text, "chat"));
  }

  #append(
    entry: InboundEntry,
    session: Pick<SessionRecord, "id">,
    role: "user" | "assistant",
    text: string,
    kind: MessageKind,
  ): number {
    const { platform, userId } = entry.event.source;
    return this.#store({
      sessionId: session.id,
      platform,
      role,
      sender: role === "user" ? userId : undefined,
      text,
      at: role === "user" ? new Date(entry.event.receivedAt) : undefined,
      kind,
      attachments: role === "user" ? entry.event.attachments : undefined,
    });
  }

  /** Stores a message (inside a unit of work); the indexer picks it up shortly. */
  #store(message: NewMessage): number {
    this.#indexer?.soon();
    return this.#transcripts.appendInTransaction(message);
  }

  /** Runs one unit of work that writes; resolves once it is committed (its errors reject it). */
  #run<T>(work: () => T): Promise<T> {
    return this.#commits ? this.#commits.run(work) : this.#read(work);
  }

  /**
   * Reads at once when no unit waits for its commit; otherwise after them,
   * so a read sees every write asked for before it, awaited or not.
   */
  #read<T>(work: () => T): Promise<T> {
    if (this.#commits?.pending) return this.#commits.run(work);
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** Resolves after `ms` (on a later turn of the event loop: timers and I/O waiting go first). */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(ms, 1_000)));
}
