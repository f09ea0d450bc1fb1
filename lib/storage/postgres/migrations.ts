/**
 * The schema of the PostgreSQL state, as migrations: the tables of
 * `state.db` (`../sqlite/migrations.ts`, at its schema 11) in PostgreSQL's
 * terms. Append new versions; never edit a released one.
 *
 * Times are ISO-8601 UTC text, as on SQLite, so values and comparisons are
 * the same on both backends. Search needs no background indexer here: the
 * word vector is a generated column and the GIN indexes take new rows into
 * their pending lists cheaply.
 *
 * Version 2 holds the credential leases of scale-out (`leases.ts`); a
 * lease owner's writes are fenced by its epoch through the store's `fence`
 * hook (`state_store.ts`), which checks the lease row in the write's own
 * transaction, so the rows written need no epoch column of their own.
 * Version 3 adds the pairing documents, the pool's members and, on each
 * lease, its platform and its last change of hands (for `status --all`).
 * Version 4 records on each lease its holder's process, so that a gateway
 * of the same machine takes the lease of a dead holder at once.
 *
 * @module
 */

import type { PgMigration } from "./database.ts";

/** The migrations of the PostgreSQL state, oldest first. */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: "sessions, transcripts and their search, the journal, the ledger and the outbox",
    sql: `
      -- Trusted since PostgreSQL 13: the database's owner may create it.
      CREATE EXTENSION IF NOT EXISTS pg_trgm;

      CREATE TABLE sessions (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key text NOT NULL,
        platform text NOT NULL,
        chat_type text NOT NULL,
        chat_id text NOT NULL,
        thread_id text,
        user_id text,
        started_at text NOT NULL,
        updated_at text NOT NULL,
        ended_at text,
        end_reason text,
        message_count integer NOT NULL DEFAULT 0
      );
      -- One open session per key; ended ones stay for their transcripts.
      CREATE UNIQUE INDEX sessions_open_key ON sessions (key) WHERE ended_at IS NULL;
      CREATE INDEX sessions_by_update ON sessions (updated_at);
      CREATE INDEX sessions_by_key ON sessions (key, id);
      -- A group room's history gathers every member's session.
      CREATE INDEX sessions_by_chat ON sessions (platform, chat_type, chat_id);
      CREATE INDEX sessions_newest_of_chat ON sessions (platform, chat_id, updated_at);

      CREATE TABLE messages (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        session_id bigint NOT NULL REFERENCES sessions (id),
        platform text NOT NULL,
        role text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
        sender text,
        text text NOT NULL,
        created_at text NOT NULL,
        -- Shown to people, never to the agent: 'command' and 'note'.
        kind text NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'command', 'note')),
        attachments jsonb,
        -- Words of space-separated languages, case folded ('simple': no stemming, any language).
        words tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
        -- Two-character CJK words: each run of CJK text as overlapping pairs (NULL: none).
        grams text[]
      );
      CREATE INDEX messages_by_session ON messages (session_id, id);
      CREATE INDEX messages_words ON messages USING gin (words);
      -- Any substring of 3+ characters (ILIKE), CJK included.
      CREATE INDEX messages_trigram ON messages USING gin (text gin_trgm_ops);
      CREATE INDEX messages_bigram ON messages USING gin (grams) WHERE grams IS NOT NULL;

      -- Every accepted platform message, durable before anything else happens.
      CREATE TABLE inbound_journal (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        platform text NOT NULL,
        message_id text NOT NULL,
        session_key text NOT NULL,
        event jsonb NOT NULL,
        received_at text NOT NULL,
        state text NOT NULL DEFAULT 'pending'
          CHECK (state IN ('pending', 'interrupted', 'done', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        transcript_id bigint,
        outcome text,
        finished_at text,
        UNIQUE (platform, message_id)
      );
      CREATE INDEX inbound_by_time ON inbound_journal (received_at);
      CREATE INDEX inbound_pending ON inbound_journal (id) WHERE state = 'pending';
      CREATE INDEX inbound_interrupted ON inbound_journal (session_key, id)
        WHERE state = 'interrupted';
      CREATE INDEX inbound_by_chat ON inbound_journal (platform, (event -> 'source' ->> 'chatId'), id);

      -- One row per reply message: a restart never sends a delivered one twice.
      CREATE TABLE outbound_ledger (
        idempotency_key text PRIMARY KEY,
        platform text NOT NULL,
        chat text NOT NULL,
        state text NOT NULL CHECK (state IN ('sending', 'sent')),
        platform_message_id text,
        text text NOT NULL,
        created_at text NOT NULL,
        updated_at text NOT NULL
      );
      CREATE INDEX outbound_by_time ON outbound_ledger (updated_at);

      -- Every final reply part is a row before it is sent.
      CREATE TABLE outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        inbound_id bigint NOT NULL,
        part integer NOT NULL,
        platform text NOT NULL,
        -- One chat's parts go out in order: [platform, chat id, thread].
        chat_key text NOT NULL,
        target jsonb NOT NULL,
        reply_to text,
        text text NOT NULL,
        format text NOT NULL DEFAULT 'plain',
        idempotency_key text NOT NULL UNIQUE,
        edit_of text,
        state text NOT NULL CHECK (state IN
          ('queued', 'sending', 'sent', 'deferred', 'failed', 'undeliverable')),
        attempts integer NOT NULL DEFAULT 0,
        not_before text,
        waiting_for_inbound boolean NOT NULL DEFAULT false,
        deadline text NOT NULL,
        platform_message_id text,
        last_code text,
        last_error text,
        created_at text NOT NULL,
        updated_at text NOT NULL,
        attachments jsonb,
        shown_text text,
        -- The store open whose completed turn counted this part's first try.
        claimed_by text
      );
      CREATE INDEX outbox_open_by_chat ON outbox (chat_key, id)
        WHERE state IN ('queued', 'sending', 'deferred', 'failed');
      CREATE INDEX outbox_open ON outbox (id)
        WHERE state IN ('queued', 'sending', 'deferred', 'failed');
      CREATE INDEX outbox_unsent_by_state ON outbox (state) WHERE state <> 'sent';
      CREATE INDEX outbox_by_inbound ON outbox (inbound_id, part);
      CREATE INDEX outbox_by_creation ON outbox (created_at);

      -- The newest reply context each chat's admitted messages carried.
      CREATE TABLE chat_contexts (
        chat_key text PRIMARY KEY,
        reply_context jsonb NOT NULL,
        updated_at text NOT NULL
      );

      -- Retention: ended sessions by age, the reset sweep's walk, and when each task last ran.
      CREATE INDEX sessions_ended ON sessions (ended_at, id) WHERE ended_at IS NOT NULL;
      CREATE INDEX sessions_open ON sessions (id) WHERE ended_at IS NULL;
      CREATE TABLE maintenance_runs (
        task text PRIMARY KEY,
        last_run_at text NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "credential leases",
    sql: `
      -- One row per bot credential, kept once released (expires_at moved to the release) so
      -- its epoch only ever grows; see leases.ts. The credential is a SHA-256, never the secret.
      CREATE TABLE credential_leases (
        credential_hash text PRIMARY KEY,
        owner text NOT NULL,
        host text NOT NULL,
        pid integer NOT NULL,
        epoch bigint NOT NULL,
        expires_at timestamptz NOT NULL,
        claimed_at timestamptz NOT NULL,
        renewed_at timestamptz NOT NULL
      );
      CREATE INDEX credential_leases_by_owner ON credential_leases (owner);
    `,
  },
  {
    version: 3,
    name:
      "pairing documents, adapters' kept state, pool members, what each lease is for and how it last changed hands",
    sql: `
      -- The pairing store's JSON objects (pairing_documents.ts), one row each; version grows
      -- with every write, so a gateway re-reads approvals only when they changed.
      CREATE TABLE pairing_documents (
        name text PRIMARY KEY,
        body jsonb NOT NULL,
        version bigint NOT NULL DEFAULT 1
      );
      -- Every gateway of the pool, seen every third of its lease TTL (pool_members.ts).
      CREATE TABLE pool_members (
        owner text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        home text NOT NULL,
        started_at timestamptz NOT NULL,
        seen_at timestamptz NOT NULL,
        stopped_at timestamptz
      );
      -- What an adapter keeps between runs (platform_state.ts), written under the bot's lease.
      CREATE TABLE platform_state (
        platform text NOT NULL,
        name text NOT NULL,
        body text NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (platform, name)
      );
      ALTER TABLE credential_leases
        ADD COLUMN platform text,
        ADD COLUMN released_at timestamptz,
        ADD COLUMN taken_from text,
        ADD COLUMN taken_at timestamptz,
        ADD COLUMN taken_planned boolean;
    `,
  },
  {
    version: 4,
    name: "each lease names its holder's process table and start time",
    sql: `
      -- A gateway on the same machine (same boot, PID namespace and user) can tell that the
      -- holder's process ended and take its lease at once (process_table.ts); null elsewhere.
      -- process_epoch is the epoch they were written at: a claim by an older gateway, which
      -- leaves them as they were, makes them stale.
      ALTER TABLE credential_leases
        ADD COLUMN process_table text,
        ADD COLUMN start_time bigint,
        ADD COLUMN process_epoch bigint;
    `,
  },
];
