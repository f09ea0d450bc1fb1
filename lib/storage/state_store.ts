/**
 * The one interface through which the gateway touches its state, as units
 * of work: accept an inbound message, begin a turn, record a command
 * exchange, complete a turn, the ledger of delivered parts, session lookups
 * and transcript search. Every method is asynchronous, so that an
 * implementation on a server database (PostgreSQL) can keep the same
 * shape; the embedded SQLite one is `sqlite/state_store.ts`, and both are
 * held to `tests/storage/state_store_conformance.ts`.
 *
 * @module
 */

import type { Attachment, Json, MessageEvent, SessionSource } from "../platforms/event.ts";

/** Where an inbound message is in its life. */
export type InboundState = "pending" | "interrupted" | "done" | "failed";

/** One journaled inbound message. */
export interface InboundEntry {
  readonly id: number;
  readonly sessionKey: string;
  readonly event: MessageEvent;
  readonly state: InboundState;
  readonly attempts: number;
  /** The transcript row of the user's message, once stored. */
  readonly transcriptId: number | null;
}

/** A session, with its message count. */
export interface SessionRecord {
  readonly id: number;
  readonly key: string;
  readonly platform: string;
  readonly chat_type: string;
  readonly chat_id: string;
  readonly thread_id: string | null;
  readonly user_id: string | null;
  readonly started_at: string;
  readonly updated_at: string;
  readonly ended_at: string | null;
  readonly end_reason: string | null;
  readonly message_count: number;
}

/** Ended sessions a prune would remove, and how many messages they hold. */
export interface ExpiredSessions {
  readonly sessions: SessionRecord[];
  readonly messages: number;
}

/** What a prune of ended sessions removed. */
export interface SessionPruneCounts {
  sessions: number;
  messages: number;
}

/** Finished rows a prune of the journal, the ledger and the outbox removed (or would). */
export interface FinishedPruneCounts {
  journal: number;
  ledger: number;
  outbox: number;
}

/** Who said a message. */
export type Role = "user" | "assistant" | "system";

/**
 * What a message is: conversation (`chat`, the agent sees it), or for
 * people only a slash command or its answer (`command`) or a note of the
 * gateway's in place of a reply (`note`: the agent failed).
 */
export type MessageKind = "chat" | "command" | "note";

/** Whom a history is for: the agent sees the conversation, people see everything. */
export type Audience = "agent" | "people";

/** A stored message. */
export interface StoredMessage {
  readonly id: number;
  readonly session_id: number;
  readonly platform: string;
  readonly role: Role;
  readonly sender: string | null;
  readonly text: string;
  readonly created_at: string;
  readonly kind: MessageKind;
  /** Files that came with it. */
  readonly attachments: readonly Attachment[];
}

/** A message of a chat's shared history, with the user whose session holds it. */
export interface ChatMessage extends StoredMessage {
  /** Whom an answer went to (the session's user). */
  readonly session_user: string | null;
}

/** How far search trails the transcripts: messages not indexed yet, and since when (ISO). */
export interface SearchLag {
  readonly messages: number;
  readonly since?: string;
}

/** A search result: the message, its session key and a highlighted snippet. */
export interface SearchHit extends StoredMessage {
  readonly session_key: string;
  /** The text around the match, matches wrapped in `[` and `]`. */
  readonly snippet: string;
}

/** Options of {@linkcode StateStore.search}. */
export interface SearchOptions {
  readonly platform?: string;
  /** Default 20. */
  readonly limit?: number;
}

/** A delivered (or half-delivered) part of a reply, by its idempotency key. */
export interface LedgerEntry {
  readonly key: string;
  readonly state: "sending" | "sent";
  readonly platformMessageId: string | null;
}

/**
 * Whether an open session has expired (its reset policy), and why; called
 * inside a unit of work, before the session is used.
 */
export type Expiry = (session: SessionRecord) => string | undefined;

/** Where a reply part is: `queued → sending → sent`, or `deferred`, `failed` (retried), `undeliverable`. */
export type PartState = "queued" | "sending" | "sent" | "deferred" | "failed" | "undeliverable";

/** A reply part to store in the outbox. */
export interface NewPart {
  readonly text: string;
  readonly format?: "plain" | "markdown";
  /** The platform id of a preview this part replaces (edited into it). */
  readonly editOf?: string;
  /** What that preview shows now. */
  readonly shownText?: string;
  /** Files that go with it. */
  readonly attachments?: readonly Attachment[];
}

/** A reply part in the outbox. */
export interface OutboxPart {
  readonly id: number;
  readonly inboundId: number;
  /** Its index in the reply. */
  readonly part: number;
  readonly platform: string;
  /** The chat it goes to ({@linkcode chatKeyOf}): a chat's parts go out in order. */
  readonly chatKey: string;
  readonly target: SessionSource;
  /** The platform id of the inbound message answered. */
  readonly replyTo: string | null;
  readonly text: string;
  readonly format: "plain" | "markdown";
  /** `inbound:<entry id>#<part>`: the same for every try, restarts included. */
  readonly idempotencyKey: string;
  readonly editOf: string | null;
  readonly state: PartState;
  /** Tries so far. */
  readonly attempts: number;
  /** ISO time before which it is not tried again. */
  readonly notBefore: string | null;
  /** Deferred until the chat's next inbound message. */
  readonly waitingForInbound: boolean;
  /** ISO time after which it is undeliverable. */
  readonly deadline: string;
  readonly platformMessageId: string | null;
  readonly lastCode: string | null;
  readonly lastError: string | null;
  /** Files that go with it. */
  readonly attachments: readonly Attachment[];
  /** What the preview it replaces shows now, when known. */
  readonly shownText: string | null;
}

/** How many parts are in each state but `sent` (undeliverable ones until they are pruned). */
export type OutboxCounts = Readonly<Record<Exclude<PartState, "sent">, number>>;

/**
 * The key of the chat `source` is in: one chat's replies go out in order,
 * and its newest reply context serves them all. The chat type is not part of
 * it (a platform's chat ids are unique across types), so a message addressed
 * to a chat whose type the sender guessed wrong still waits on that chat.
 *
 * @example
 * ```ts
 * chatKeyOf({ platform: "wecom", chatType: "group", chatId: "g1", userId: "alice" });
 * // '["wecom","g1",""]'
 * ```
 */
export function chatKeyOf(source: SessionSource): string {
  return JSON.stringify([source.platform, source.chatId, source.threadId ?? ""]);
}

/** How a store's link to its database server is: up, or lost since when and why. */
export interface StoreLink {
  readonly up: boolean;
  /** The last loss, while it lasts. */
  readonly error?: string;
  /** ISO time of the first failure of the current loss. */
  readonly since?: string;
}

/** The gateway's state. */
export interface StateStore {
  /** The link to the database server, as the last unit of work found it (a server's store only). */
  readonly link?: StoreLink;

  /**
   * Journals `event` (durable when this resolves); undefined for a repeat of
   * a message id. Its reply context serves the chat only once the message is
   * admitted ({@linkcode StateStore.admitInbound}).
   */
  acceptInbound(event: MessageEvent, sessionKey: string): Promise<InboundEntry | undefined>;
  /**
   * The message passed authorization: in one unit, its reply context becomes
   * its chat's newest (unless the chat has a newer one: a replayed entry),
   * and the chat's parts deferred until its next message are queued again.
   * A refused message (a stranger, a blocked group member) never lends its
   * reply context to the chat's other answers.
   */
  admitInbound(entry: InboundEntry): Promise<void>;
  /** The reply context the message of entry `inboundId` carried, while the journal keeps it. */
  inboundReplyContext(inboundId: number): Promise<Json | undefined>;
  /** Entries never finished nor interrupted (a crash left them), oldest first. */
  unfinishedInbound(): Promise<InboundEntry[]>;
  /** Entries of `sessionKey` cut off by a drain, oldest first. */
  interruptedInbound(sessionKey: string): Promise<InboundEntry[]>;
  /** Marks pending entries as cut off by a drain (answered on the session's next message). */
  markInterrupted(ids: readonly number[]): Promise<void>;
  /** Counts one more attempt at an entry; resolves with the count. */
  countAttempt(id: number): Promise<number>;
  /** Finishes an entry. */
  finishInbound(id: number, state: "done" | "failed", outcome: string): Promise<void>;

  /** The open session of `key`, if any. */
  findOpenSession(key: string): Promise<SessionRecord | undefined>;
  /** Every session that had `key`, newest first. */
  sessionsOfKey(key: string): Promise<SessionRecord[]>;
  /** Sessions, most recently active first. */
  listSessions(options?: { limit?: number; includeEnded?: boolean }): Promise<SessionRecord[]>;
  /**
   * Up to `limit` open sessions with an id above `afterId`, by id (the reset
   * sweep walks them all in pages: start at 0, go on from the last id).
   */
  openSessionsAfter(afterId: number, limit: number): Promise<SessionRecord[]>;
  /** Ends a session (`/new`, a reset policy, a suspension); its transcript stays. */
  endSession(id: number, reason: string): Promise<void>;
  /** Sessions ended before `before`: what {@linkcode StateStore.pruneSessions} would remove. */
  expiredSessions(before: Date): Promise<ExpiredSessions>;
  /**
   * Deletes the sessions ended before `before` with their transcripts and
   * search rows, in small units of work that let replies in between; an
   * abort stops it between two units (what was pruned stays pruned).
   */
  pruneSessions(before: Date, options?: { signal?: AbortSignal }): Promise<SessionPruneCounts>;
  /** When the maintenance task `task` last ran (ISO time), if ever. */
  lastMaintenance(task: string): Promise<string | undefined>;
  /** Records that the maintenance task `task` ran at `at`. */
  recordMaintenance(task: string, at: Date): Promise<void>;
  /** Gives the space of deleted rows back to the file system (pauses every write while it runs). */
  vacuum(): Promise<void>;

  /** The last `limit` (default 50) messages of a session, oldest first, for `audience`. */
  history(
    sessionId: number,
    options?: { limit?: number; audience?: Audience },
  ): Promise<StoredMessage[]>;
  /** The last `limit` messages of a chat across all its sessions, for people, oldest first. */
  chatHistory(
    chat: Pick<SessionSource, "platform" | "chatType" | "chatId">,
    limit: number,
  ): Promise<ChatMessage[]>;
  /**
   * Messages matching every term of `query`, best first. Messages are
   * indexed in the background, about a second after they are stored; a
   * store that may write indexes what waits before it searches.
   */
  search(query: string, options?: SearchOptions): Promise<SearchHit[]>;
  /** How many stored messages search does not see yet (the indexer trails), and since when. */
  searchLag(): Promise<SearchLag>;

  /**
   * Begins a turn, in one unit: the session of `entry` (an expired one ended
   * first, a new one opened when needed) and the user's `text`, stored once
   * however often the turn is begun.
   */
  beginTurn(entry: InboundEntry, turn: { expired: Expiry; text: string }): Promise<SessionRecord>;
  /**
   * Answers an entry without the agent (a command, a refusal, a notice), in
   * one unit: its parts into the outbox, the entry finished; with
   * `exchange`, the command and its answer kept in the session's transcript
   * (after `/new`, the new session's), for people only.
   */
  answer(entry: InboundEntry, answer: {
    parts: readonly NewPart[];
    deadline: string;
    state: "done" | "failed";
    outcome: string;
    exchange?: { expired: Expiry };
  }): Promise<void>;
  /**
   * A queued message a newer one replaced: kept in the transcript, finished,
   * never answered, in one unit (a crash keeps both or neither, so a second
   * pass never stores it twice). Resolves with the session that keeps it.
   */
  supersede(entry: InboundEntry, turn: { expired: Expiry }): Promise<SessionRecord>;
  /**
   * Completes a turn in one unit: the reply (if any) in the transcript, its
   * parts in the outbox (the first part's first try counted when its chat
   * waits on nothing else), the entry finished. From here on the reply is
   * delivered from the rows; the agent is never asked again.
   */
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
  ): Promise<void>;

  /**
   * Stores a message no inbound message asked for (an operator's, `hermes
   * send`) as outbox rows, in one unit: a journal entry of its own (message
   * id `send:<uuid>`, finished at once with an outcome naming `origin`, so it
   * is never replayed, answered or shown in a transcript, and it wakes no
   * deferred part) and its parts, keyed `inbound:<that id>#<part>` and
   * answering no message (`replyTo` null). From here on they are sent,
   * deferred, retried and given up like any reply's. Resolves with the parts.
   */
  enqueueMessage(
    target: SessionSource,
    parts: readonly NewPart[],
    options: { deadline: string; origin: string },
  ): Promise<OutboxPart[]>;
  /**
   * What the store knows of chat `chatId` of `platform`: the source of its
   * newest journaled inbound message (operators' messages left out), else of
   * its most recently active session; undefined for a chat never heard from.
   */
  knownChat(platform: string, chatId: string): Promise<SessionSource | undefined>;

  /** Parts not yet sent nor given up, oldest first. */
  openParts(): Promise<OutboxPart[]>;
  /** The oldest open part of the chat `chatKey` (the one the chat waits on), if any. */
  nextPart(chatKey: string): Promise<OutboxPart | undefined>;
  /** Every part of the reply to entry `inboundId`. */
  partsOf(inboundId: number): Promise<OutboxPart[]>;
  /** A try begins: the part is `sending`; resolves with its attempt number (1 for the first). */
  startSending(id: number): Promise<number>;
  /** The platform took the part. */
  partSent(id: number, platformMessageId: string): Promise<void>;
  /** The try failed; it may be tried again from `notBefore`. */
  partFailed(
    id: number,
    failure: { code: string; message: string; notBefore: string },
  ): Promise<void>;
  /** The platform said "not now": until the chat's next inbound message, or until an ISO time. */
  partDeferred(
    id: number,
    deferral: { until: "next_inbound" | string; reason: string },
  ): Promise<void>;
  /** Given up: a permanent refusal, or the deadline passed. */
  partUndeliverable(id: number, failure: { code: string; message: string }): Promise<void>;
  /** The newest reply context of the chat's admitted messages (see {@linkcode chatKeyOf}). */
  replyContext(chatKey: string): Promise<Json | undefined>;
  /** Parts by state. */
  outboxCounts(): Promise<OutboxCounts>;

  /** What the ledger knows of the part with `key`. */
  deliveredPart(key: string): Promise<LedgerEntry | undefined>;
  /** Records a part shown (`sending`) or delivered (`sent`; never taken back). */
  recordPart(
    key: string,
    part: {
      platform: string;
      chat: string;
      state: "sending" | "sent";
      messageId: string;
      text: string;
    },
  ): Promise<void>;

  /**
   * Forgets finished entries, ledger rows and finished parts older than
   * `before`, in small units of work; returns how many of each (an abort
   * stops it between two units).
   */
  prune(before: Date, options?: { signal?: AbortSignal }): Promise<FinishedPruneCounts>;
  /** How many rows {@linkcode StateStore.prune} would forget. */
  prunable(before: Date): Promise<FinishedPruneCounts>;
  /**
   * Closes the store; nothing may be called afterwards. A store on a server
   * resolves once its connections are closed (SQLite's closes at once).
   */
  close(): void | Promise<void>;
}
