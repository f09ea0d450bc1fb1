/**
 * The {@linkcode StateStore} on PostgreSQL, for gateways that share their
 * state (`storage.backend: postgres`). Each method that writes is one
 * transaction (a unit of work); a read waits for the writes asked for
 * before it, so it sees them, awaited or not, as on SQLite. A lost
 * connection is retried where that is safe, and otherwise rejects the unit
 * with a {@linkcode StoreConnectionError}; the pool reconnects for the next.
 *
 * @module
 */

import type { PlatformState } from "../../platforms/platform_state.ts";
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
  type StoreLink,
} from "../state_store.ts";
import { OPERATOR_MESSAGE_PREFIX } from "../dedup_id.ts";
import { openPostgres, type Queryable, type Tx } from "./database.ts";
import type { PgPool } from "./pool.ts";
import { retrying, StoreConnectionError, unitOfWork } from "./unit_of_work.ts";
import { PG_MIGRATIONS } from "./migrations.ts";
import { PgInboundJournal } from "./journal.ts";
import { PgOutboundLedger } from "./outbound_ledger.ts";
import { PgOutboxRows } from "./outbox_rows.ts";
import { PgFirstTryClaims } from "./first_try_claims.ts";
import { PgSessionStore } from "./sessions.ts";
import { type PgNewMessage, PgTranscriptStore } from "./transcripts.ts";
import { MESSAGES_PER_BATCH, PgSessionRetention } from "./retention.ts";

/** Options of {@linkcode openPostgresStateStore}. */
export interface PgStoreOptions {
  readonly now?: () => Date;
  /** Read only (the CLI's read commands): no migrations, read-only transactions. */
  readonly readOnly?: boolean;
  /** Connections at most (`storage.pool_max`; default 10). */
  readonly max?: number;
  /**
   * Runs first in every unit of work that writes for a platform's bot (the
   * journal, the outbox, the ledger), inside its transaction, with that
   * platform; throwing refuses the unit. Where a lease's epoch is checked
   * (fencing). Maintenance (retention, ending sessions) is not fenced.
   */
  readonly fence?: (tx: Tx, platform: string) => Promise<void>;
}

/**
 * Opens (migrating when needed) the store in the PostgreSQL database at `url`.
 *
 * @example
 * ```ts
 * import type { MessageEvent } from "../../platforms/event.ts";
 * declare const event: MessageEvent;
 * const store = await openPostgresStateStore("postgres://hermes@db.internal:5432/hermes");
 * const entry = await store.acceptInbound(event, "agent:main:local:dm:alice");
 * await store.close();
 * ```
 */
export async function openPostgresStateStore(
  url: string,
  options: PgStoreOptions = {},
): Promise<PgStateStore> {
  const pool = await openPostgres(url, PG_MIGRATIONS, {
    max: options.max,
    readOnly: options.readOnly,
  });
  return new PgStateStore(pool, options);
}

/** The state of one or more gateways in one PostgreSQL database. */
export class PgStateStore implements StateStore {
  readonly #pool: PgPool;
  readonly #now: () => Date;
  readonly #readOnly: boolean;
  readonly #fence: ((tx: Tx, platform: string) => Promise<void>) | undefined;
  readonly #journal: PgInboundJournal;
  readonly #ledger: PgOutboundLedger;
  readonly #outbox: PgOutboxRows;
  readonly #claims: PgFirstTryClaims;
  readonly #sessions: PgSessionStore;
  readonly #transcripts = new PgTranscriptStore();
  readonly #retention = new PgSessionRetention();
  /** Writes asked for and not settled: a read waits for them. */
  readonly #writes = new Set<Promise<unknown>>();
  /** Reads and writes not settled: closing waits for them. */
  readonly #busy = new Set<Promise<unknown>>();
  #link: StoreLink = { up: true };
  #closed: Promise<void> | undefined;

  constructor(pool: PgPool, options: PgStoreOptions = {}) {
    this.#pool = pool;
    this.#now = options.now ?? (() => new Date());
    this.#readOnly = options.readOnly ?? false;
    this.#fence = options.fence;
    this.#journal = new PgInboundJournal(this.#now);
    this.#ledger = new PgOutboundLedger(this.#now);
    this.#outbox = new PgOutboxRows(this.#now);
    this.#claims = new PgFirstTryClaims(this.#outbox);
    this.#sessions = new PgSessionStore(this.#now);
  }

  /** The link to the database, as the last unit of work found it (for `gateway status`). */
  get link(): StoreLink {
    return this.#link;
  }

  acceptInbound(event: MessageEvent, sessionKey: string): Promise<InboundEntry | undefined> {
    return this.#write((tx) => this.#journal.accept(tx, event, sessionKey), {
      platform: event.source.platform,
    });
  }

  async admitInbound(entry: InboundEntry): Promise<void> {
    const chat = chatKeyOf(entry.event.source);
    // Most messages bring no reply context and find nothing waiting: a read, no unit of work.
    if (
      entry.event.replyContext === undefined &&
      !(await this.#read((q) => this.#outbox.waiting(q, chat)))
    ) {
      return;
    }
    await this.#write(async (tx) => {
      const { event } = entry;
      if (event.replyContext !== undefined) {
        await this.#outbox.saveContext(tx, chat, event.replyContext, event.receivedAt);
      }
      await this.#outbox.wake(tx, chat);
    }, { platform: entry.event.source.platform });
  }

  async inboundReplyContext(inboundId: number): Promise<Json | undefined> {
    return (await this.#read((q) => this.#journal.get(q, inboundId)))?.event.replyContext;
  }

  unfinishedInbound(): Promise<InboundEntry[]> {
    return this.#read((q) => this.#journal.pending(q));
  }

  interruptedInbound(sessionKey: string): Promise<InboundEntry[]> {
    return this.#read((q) => this.#journal.interrupted(q, sessionKey));
  }

  markInterrupted(ids: readonly number[]): Promise<void> {
    return this.#write((tx) => this.#journal.interrupt(tx, ids), { inbound: ids });
  }

  countAttempt(id: number): Promise<number> {
    return this.#write((tx) => this.#journal.attempt(tx, id), { inbound: [id] });
  }

  finishInbound(id: number, state: "done" | "failed", outcome: string): Promise<void> {
    return this.#write((tx) => this.#journal.finish(tx, id, state, outcome), { inbound: [id] });
  }

  findOpenSession(key: string): Promise<SessionRecord | undefined> {
    return this.#read((q) => this.#sessions.findOpen(q, key));
  }

  sessionsOfKey(key: string): Promise<SessionRecord[]> {
    return this.#read((q) => this.#sessions.history(q, key));
  }

  listSessions(
    options: { limit?: number; includeEnded?: boolean } = {},
  ): Promise<SessionRecord[]> {
    return this.#read((q) => this.#sessions.list(q, options));
  }

  endSession(id: number, reason: string): Promise<void> {
    return this.#write((tx) => this.#sessions.end(tx, id, reason));
  }

  history(
    sessionId: number,
    options: { limit?: number; audience?: Audience } = {},
  ): Promise<StoredMessage[]> {
    return this.#read((q) =>
      this.#transcripts.history(q, sessionId, options.limit ?? 50, { audience: options.audience })
    );
  }

  chatHistory(
    chat: Pick<SessionSource, "platform" | "chatType" | "chatId">,
    limit: number,
  ): Promise<ChatMessage[]> {
    return this.#read((q) => this.#transcripts.chatHistory(q, chat, limit));
  }

  search(query: string, options: SearchOptions = {}): Promise<SearchHit[]> {
    return this.#read((q) => this.#transcripts.search(q, query, options));
  }

  /** Nothing trails: the indexes take each message in the unit that stores it. */
  searchLag(): Promise<SearchLag> {
    return Promise.resolve({ messages: 0 });
  }

  beginTurn(entry: InboundEntry, turn: { expired: Expiry; text: string }): Promise<SessionRecord> {
    return this.#write(async (tx) => {
      const session = await this.#openSession(tx, entry, turn.expired);
      await this.#transcribe(tx, entry, session, turn.text);
      return session;
    }, { platform: entry.event.source.platform });
  }

  answer(entry: InboundEntry, answer: {
    parts: readonly NewPart[];
    deadline: string;
    state: "done" | "failed";
    outcome: string;
    exchange?: { expired: Expiry };
  }): Promise<void> {
    return this.#write(async (tx) => {
      // First: an entry another gateway of the pool answered already refuses this answer.
      await this.#journal.finishAnswered(tx, entry.id, answer.state, answer.outcome);
      if (answer.exchange) {
        const session = await this.#openSession(tx, entry, answer.exchange.expired);
        const text = answer.parts.map((p) => p.text).join("\n\n");
        await this.#append(tx, entry, session, "user", entry.event.text, "command");
        await this.#append(tx, entry, session, "assistant", text, "command");
        await this.#sessions.touch(tx, session.id);
      }
      await this.#queue(tx, entry, answer.parts, answer.deadline);
    }, { platform: entry.event.source.platform });
  }

  supersede(entry: InboundEntry, turn: { expired: Expiry }): Promise<SessionRecord> {
    return this.#write(async (tx) => {
      const session = await this.#openSession(tx, entry, turn.expired);
      await this.#transcribe(tx, entry, session, entry.event.text);
      await this.#journal.finish(tx, entry.id, "done", "superseded by a newer message");
      return session;
    }, { platform: entry.event.source.platform });
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
    return this.#write(async (tx) => {
      // First: an entry another gateway of the pool answered already refuses this answer.
      await this.#journal.finishAnswered(tx, entry.id, completion.state, completion.outcome);
      await this.#queue(tx, entry, completion.parts, completion.deadline);
      if (completion.reply) {
        await this.#transcripts.append(tx, {
          sessionId: completion.sessionId,
          platform: entry.event.source.platform,
          role: "assistant",
          text: completion.reply.text,
          kind: completion.reply.kind,
          at: this.#now(),
        });
      }
      await this.#sessions.touch(tx, completion.sessionId);
    }, { platform: entry.event.source.platform });
  }

  deliveredPart(key: string): Promise<LedgerEntry | undefined> {
    return this.#read((q) => this.#ledger.get(q, key));
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
    // What went out is recorded whoever holds the lease now, so nobody sends it again.
    return this.#write(
      (tx) => this.#ledger.record(tx, key, part),
      part.state === "sent" ? undefined : { platform: part.platform },
    );
  }

  enqueueMessage(
    target: SessionSource,
    parts: readonly NewPart[],
    options: { deadline: string; origin: string },
  ): Promise<OutboxPart[]> {
    if (parts.length === 0) {
      return Promise.reject(new TypeError("Cannot enqueue a message: it has no parts"));
    }
    return this.#write(async (tx) => {
      const event: MessageEvent = {
        messageId: `${OPERATOR_MESSAGE_PREFIX}${crypto.randomUUID()}`,
        source: target,
        text: parts.map((p) => p.text).join("\n\n"),
        receivedAt: this.#now().toISOString(),
      };
      const chat = chatKeyOf(target);
      const id = await this.#journal.recordFinished(
        tx,
        event,
        `${OPERATOR_MESSAGE_PREFIX}${chat}`,
        `message from ${options.origin}`,
      );
      await this.#outbox.add(
        tx,
        { inboundId: id, target, replyTo: null, deadline: options.deadline },
        parts,
      );
      return this.#outbox.of(tx, id);
    }, { platform: target.platform });
  }

  knownChat(platform: string, chatId: string): Promise<SessionSource | undefined> {
    return this.#read(async (q) => {
      const heard = await this.#journal.newestSource(q, platform, chatId);
      if (heard) return heard;
      const session = await this.#sessions.newestOfChat(q, platform, chatId);
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
    return this.#read((q) => this.#outbox.open(q));
  }

  nextPart(chatKey: string): Promise<OutboxPart | undefined> {
    return this.#read((q) => this.#outbox.next(q, chatKey));
  }

  partsOf(inboundId: number): Promise<OutboxPart[]> {
    return this.#read((q) => this.#outbox.of(q, inboundId));
  }

  /** A reply's first part was counted with the reply (a read); any other try is a write. */
  async startSending(id: number): Promise<number> {
    const claimed = await this.#read((q) => this.#claims.take(q, id));
    if (claimed !== undefined) return claimed;
    const tries = await this.#write((tx) => this.#outbox.startSending(tx, id), { part: id });
    this.#claims.moved(id); // committed: no claim is left to hand out
    return tries;
  }

  /** Not fenced: a part that went out is recorded sent even by a gateway that lost the lease since. */
  partSent(id: number, platformMessageId: string): Promise<void> {
    return this.#moved(
      id,
      (tx) => this.#outbox.set(tx, id, "sent", { messageId: platformMessageId }),
      false,
    );
  }

  partFailed(
    id: number,
    failure: { code: string; message: string; notBefore: string },
  ): Promise<void> {
    return this.#moved(id, (tx) =>
      this.#outbox.set(tx, id, "failed", {
        code: failure.code,
        error: failure.message,
        notBefore: failure.notBefore,
      }));
  }

  partDeferred(id: number, deferral: { until: string; reason: string }): Promise<void> {
    const waiting = deferral.until === "next_inbound";
    return this.#moved(id, (tx) =>
      this.#outbox.set(tx, id, "deferred", {
        error: deferral.reason,
        notBefore: waiting ? null : deferral.until,
        waitingForInbound: waiting,
      }));
  }

  partUndeliverable(id: number, failure: { code: string; message: string }): Promise<void> {
    return this.#moved(
      id,
      (tx) =>
        this.#outbox.set(tx, id, "undeliverable", { code: failure.code, error: failure.message }),
    );
  }

  replyContext(chatKey: string): Promise<Json | undefined> {
    return this.#read((q) => this.#outbox.context(q, chatKey));
  }

  async outboxCounts(): Promise<OutboxCounts> {
    return this.#claims.underWay(await this.#read((q) => this.#outbox.counts(q)));
  }

  async prune(
    before: Date,
    options: { signal?: AbortSignal } = {},
  ): Promise<FinishedPruneCounts> {
    const total: FinishedPruneCounts = { journal: 0, ledger: 0, outbox: 0 };
    while (!options.signal?.aborted) {
      const step = await this.#write(async (tx) => ({
        journal: await this.#journal.prune(tx, before, FINISHED_PER_UNIT),
        ledger: await this.#ledger.prune(tx, before, FINISHED_PER_UNIT),
        outbox: await this.#outbox.prune(tx, before, FINISHED_PER_UNIT),
      }));
      total.journal += step.journal;
      total.ledger += step.ledger;
      total.outbox += step.outbox;
      if (step.journal + step.ledger + step.outbox === 0) break;
    }
    return total;
  }

  prunable(before: Date): Promise<FinishedPruneCounts> {
    return this.#read(async (q) => ({
      journal: await this.#journal.prunable(q, before),
      ledger: await this.#ledger.prunable(q, before),
      outbox: await this.#outbox.prunable(q, before),
    }));
  }

  openSessionsAfter(afterId: number, limit: number): Promise<SessionRecord[]> {
    return this.#read((q) => this.#sessions.openAfter(q, afterId, limit));
  }

  expiredSessions(before: Date): Promise<ExpiredSessions> {
    return this.#read((q) => this.#retention.expired(q, before));
  }

  async pruneSessions(
    before: Date,
    options: { signal?: AbortSignal } = {},
  ): Promise<SessionPruneCounts> {
    const total: SessionPruneCounts = { sessions: 0, messages: 0 };
    while (!options.signal?.aborted) {
      const step = await this.#write((tx) =>
        this.#retention.pruneBatch(tx, before, MESSAGES_PER_BATCH)
      );
      total.sessions += step.sessions;
      total.messages += step.messages;
      if (step.sessions === 0 && step.messages === 0) break;
    }
    return total;
  }

  lastMaintenance(task: string): Promise<string | undefined> {
    return this.#read((q) => this.#retention.last(q, task));
  }

  recordMaintenance(task: string, at: Date): Promise<void> {
    return this.#write((tx) => this.#retention.record(tx, task, at));
  }

  /**
   * What the adapter of `platform` keeps between runs (cursors, context
   * tokens, send progress, device ids), as rows of this database: read by
   * whichever gateway of the pool serves the bot, written under its lease.
   */
  platformState(platform: string): PlatformState {
    return {
      where: `the PostgreSQL database (platform_state of ${platform})`,
      readText: async (name) => {
        const [row] = await this.#read((q) =>
          q`SELECT body FROM platform_state WHERE platform = ${platform} AND name = ${name}`
        );
        return row ? String(row.body) : undefined;
      },
      writeText: async (name, text) => {
        await this.#write((tx) =>
          tx`
          INSERT INTO platform_state (platform, name, body, updated_at)
          VALUES (${platform}, ${name}, ${text}, now())
          ON CONFLICT (platform, name) DO UPDATE SET body = excluded.body, updated_at = now()`, {
          platform,
        });
      },
    };
  }

  /** Nothing to do: PostgreSQL's autovacuum reclaims the space of deleted rows by itself. */
  vacuum(): Promise<void> {
    return Promise.resolve();
  }

  /** Waits for the reads and writes under way, then closes the pool's connections. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.allSettled([...this.#busy]);
      await this.#pool.end();
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Queues the reply's parts; when its chat waits on nothing else, its first try counts now. */
  async #queue(tx: Tx, entry: InboundEntry, parts: readonly NewPart[], deadline: string) {
    if (parts.length === 0) return;
    const target = entry.event.source;
    const chat = chatKeyOf(target);
    // One chat's replies are queued one at a time (across gateways too), so the claim below
    // sees every part queued before this one.
    await tx`SELECT pg_advisory_xact_lock(${CHAT_LOCK}, hashtext(${chat}))`;
    await this.#outbox.add(
      tx,
      { inboundId: entry.id, target, replyTo: entry.event.messageId, deadline },
      parts,
    );
    await this.#claims.claim(tx, chat, entry.id);
  }

  /** Moves part `id` on with `write`; once committed, its counted first try is no longer handed out. */
  async #moved(id: number, write: (tx: Tx) => Promise<void>, fenced = true): Promise<void> {
    await this.#write(write, fenced ? { part: id } : undefined);
    this.#claims.moved(id);
  }

  /** The session of `entry`, ended first when it expired, opened when there is none. */
  async #openSession(tx: Tx, entry: InboundEntry, expired: Expiry): Promise<SessionRecord> {
    const open = await this.#sessions.findOpen(tx, entry.sessionKey);
    if (open && open.message_count > 0) {
      const why = expired(open);
      if (why) await this.#sessions.end(tx, open.id, why);
    }
    return this.#sessions.open(tx, entry.sessionKey, entry.event.source);
  }

  /** Stores the user's message of `entry` in its session, once however often it is asked. */
  async #transcribe(
    tx: Tx,
    entry: InboundEntry,
    session: Pick<SessionRecord, "id">,
    text: string,
  ): Promise<void> {
    if (await this.#journal.isTranscribed(tx, entry.id) !== false) return;
    const id = await this.#append(tx, entry, session, "user", text, "chat");
    await this.#journal.transcribed(tx, entry.id, id);
  }

  #append(
    tx: Tx,
    entry: InboundEntry,
    session: Pick<SessionRecord, "id">,
    role: "user" | "assistant",
    text: string,
    kind: MessageKind,
  ): Promise<number> {
    const { platform, userId } = entry.event.source;
    const message: PgNewMessage = {
      sessionId: session.id,
      platform,
      role,
      sender: role === "user" ? userId : undefined,
      text,
      at: role === "user" ? new Date(entry.event.receivedAt) : this.#now(),
      kind,
      attachments: role === "user" ? entry.event.attachments : undefined,
    };
    return this.#transcripts.append(tx, message);
  }

  /**
   * One unit of work that writes: a transaction, fenced by the lease of the
   * bot it writes for (`target`), tracked until it settles.
   */
  #write<T>(work: (tx: Tx) => Promise<T>, target?: FenceTarget): Promise<T> {
    if (this.#readOnly) {
      return Promise.reject(new TypeError("Cannot write: the store was opened read-only"));
    }
    if (this.#closed) return Promise.reject(new TypeError("Cannot write: the store is closed"));
    const unit = this.#linked(() =>
      unitOfWork(this.#pool, async (tx) => {
        if (this.#fence && target) await this.#checkFence(tx, this.#fence, target);
        return work(tx);
      })
    );
    this.#writes.add(unit);
    const settled = () => void this.#writes.delete(unit);
    unit.then(settled, settled);
    return this.#track(unit);
  }

  /** Runs `fence` for each platform `target` writes for. */
  async #checkFence(
    tx: Tx,
    fence: (tx: Tx, platform: string) => Promise<void>,
    target: FenceTarget,
  ): Promise<void> {
    const platforms = "platform" in target
      ? [target.platform]
      : "inbound" in target
      ? (await tx`SELECT DISTINCT platform FROM inbound_journal WHERE id = ANY(${[
        ...target.inbound,
      ]}::bigint[])`).map((r) => String(r.platform))
      : (await tx`SELECT platform FROM outbox WHERE id = ${target.part}`)
        .map((r) => String(r.platform));
    for (const platform of platforms) await fence(tx, platform);
  }

  /** A read, after the writes asked for before it; retried on a new connection when the link drops. */
  #read<T>(work: (q: Queryable) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new TypeError("Cannot read: the store is closed"));
    const writes = [...this.#writes];
    return this.#track((async () => {
      if (writes.length > 0) await Promise.allSettled(writes);
      return this.#linked(() =>
        retrying(() => this.#pool.use(work), { idempotent: true, what: "Cannot read the state" })
      );
    })());
  }

  /** `work`, counted as under way until it settles. */
  #track<T>(work: Promise<T>): Promise<T> {
    this.#busy.add(work);
    const settled = () => void this.#busy.delete(work);
    work.then(settled, settled);
    return work;
  }

  /** Runs `work`, keeping {@linkcode PgStateStore.link} up to date. */
  async #linked<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      if (!this.#link.up) this.#link = { up: true };
      return result;
    } catch (error) {
      if (error instanceof StoreConnectionError) {
        this.#link = {
          up: false,
          error: error.message,
          since: this.#link.since ?? new Date().toISOString(),
        };
      }
      throw error;
    }
  }
}

/** Whose bot a write is for: a platform, or the platform of journal entries or of a part. */
type FenceTarget =
  | { readonly platform: string }
  | { readonly inbound: readonly number[] }
  | { readonly part: number };

/** Finished rows of each kind deleted in one unit of work. */
const FINISHED_PER_UNIT = 1_000;

/** The first key of the per-chat advisory locks (the second is the chat key's hash). */
const CHAT_LOCK = 0x6863; // "hc"
