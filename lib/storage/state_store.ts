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

import type { MessageEvent, SessionSource } from "../platforms/event.ts";

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
}

/** A message of a chat's shared history, with the user whose session holds it. */
export interface ChatMessage extends StoredMessage {
  /** Whom an answer went to (the session's user). */
  readonly session_user: string | null;
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

/** The gateway's state. */
export interface StateStore {
  /** Journals `event` (durable when this resolves); undefined for a repeat of a message id. */
  acceptInbound(event: MessageEvent, sessionKey: string): Promise<InboundEntry | undefined>;
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
  /** Ends a session (`/new`, a reset policy, a suspension); its transcript stays. */
  endSession(id: number, reason: string): Promise<void>;

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
  /** Messages matching every term of `query`, best first. */
  search(query: string, options?: SearchOptions): Promise<SearchHit[]>;

  /**
   * Begins a turn, in one unit: the session of `entry` (an expired one ended
   * first, a new one opened when needed) and the user's `text`, stored once
   * however often the turn is begun.
   */
  beginTurn(entry: InboundEntry, turn: { expired: Expiry; text: string }): Promise<SessionRecord>;
  /**
   * Keeps a slash command and its answer in the session's transcript (after
   * `/new`, the new session's), for people only.
   */
  recordExchange(entry: InboundEntry, exchange: { expired: Expiry; answer: string }): Promise<void>;
  /** A queued message a newer one replaced: kept in the transcript, finished, never answered. */
  supersede(entry: InboundEntry, turn: { expired: Expiry }): Promise<void>;
  /** Completes a turn in one unit: the reply (if any) in the transcript, the entry finished. */
  completeTurn(
    entry: InboundEntry,
    completion: {
      sessionId: number;
      reply?: { text: string; kind: MessageKind };
      state: "done" | "failed";
      outcome: string;
    },
  ): Promise<void>;

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

  /** Forgets finished entries and ledger rows older than `before`. */
  prune(before: Date): Promise<void>;
  /** Closes the store; nothing may be called afterwards. */
  close(): void;
}
