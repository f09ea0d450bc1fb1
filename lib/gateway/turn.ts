/**
 * One agent turn: store the user's message, run the agent on the session's
 * history (think-blocks filtered), stream the reply out, then store the
 * reply and finish the journal entry in one transaction.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { type Agent, AgentError, type AgentMessage } from "../agent/agent.ts";
import { filterThinkBlocks } from "../agent/think_filter.ts";
import type { Config } from "../config/schema.ts";
import type { PlatformAdapter } from "../platforms/adapter.ts";
import { sessionKey } from "../sessions/key.ts";
import type { SessionSource } from "../platforms/event.ts";
import type { SessionRecord, SessionStore } from "../sessions/store.ts";
import type { MessageKind, TranscriptStore } from "../sessions/transcripts.ts";
import { transaction } from "../storage/sqlite.ts";
import type { Logger } from "../util/log.ts";
import { ReplyDelivery } from "./delivery.ts";
import type { InboundJournal, JournalEntry } from "./journal.ts";
import type { OutboundLedger } from "./outbound_ledger.ts";
import { parseSlashCommand } from "./commands.ts";
import { consumeStream } from "./stream.ts";

/** Everything one turn touches. */
export interface TurnContext {
  readonly entry: JournalEntry;
  /** Aborted with a reason ("interrupted", "stopped", "reset") to stop the turn. */
  readonly signal: AbortSignal;
  readonly adapter: PlatformAdapter;
  readonly agent: Agent;
  readonly config: Config;
  readonly sessions: SessionStore;
  readonly transcripts: TranscriptStore;
  readonly journal: InboundJournal;
  readonly ledger: OutboundLedger;
  readonly db: DatabaseSync;
  readonly log: Logger;
  /** The open session of the entry (reset policy applied). */
  readonly openSession: () => SessionRecord;
  /** The source as the agent sees it (ids hashed under `agent.redact_pii`). */
  readonly agentSource: SessionSource;
}

const STOP_NOTES: Record<string, string> = {
  interrupted: "(interrupted by your newer message)",
  stopped: "(stopped)",
  reset: "(stopped: new session)",
};

/**
 * Runs the turn and delivers its reply; returns the outcome recorded in the
 * journal ("replied", "failed: ...", "interrupted", ...).
 *
 * @example
 * ```ts
 * const outcome = await runTurn({ entry, signal, adapter, agent, config, ... });
 * ```
 */
export async function runTurn(context: TurnContext): Promise<string> {
  const { entry, signal, adapter, agent, config, transcripts, journal } = context;
  const event = entry.event;
  const command = parseSlashCommand(event.text);
  const text = command?.name === "queue" ? command.args : event.text;
  // One transaction: the session, the user's message and the journal's note of it.
  const session = transaction(context.db, () => {
    const open = context.openSession();
    if (entry.transcriptId === null) {
      const id = transcripts.appendInTransaction({
        sessionId: open.id,
        platform: event.source.platform,
        role: "user",
        sender: event.source.userId,
        text,
        at: new Date(event.receivedAt),
      });
      journal.transcribed(entry.id, id);
    }
    return open;
  });
  const history: AgentMessage[] = transcripts
    .history(session.id, config.agent.history_limit)
    .map((m) => ({ role: m.role, content: m.text }));

  const delivery = new ReplyDelivery({
    adapter,
    to: event.source,
    replyTo: event.messageId,
    key: `inbound:${entry.id}`,
    ledger: context.ledger,
  });
  const deltas = filterThinkBlocks(
    agent.run({
      sessionKey: context.agentSource === event.source ? entry.sessionKey : sessionKey(
        context.agentSource,
        { groupSessionsPerUser: config.sessions.group_sessions_per_user },
      ),
      source: context.agentSource,
      history,
      signal,
    }),
  );
  const streamed = await consumeStream(deltas, delivery, {
    live: adapter.capabilities.liveEdits,
    intervalMs: config.gateway.stream_edit_interval * 1000,
    bufferChars: config.gateway.stream_buffer_chars,
    onPreviewError: (error) =>
      context.log.warn("the platform refused a preview; the reply goes on", {
        session: entry.sessionKey,
        error,
      }),
  });
  const reply = streamed.text.trim();

  let finalText: string;
  let state: "done" | "failed" = "done";
  let outcome: string;
  if (signal.aborted && signal.reason === "shutdown") {
    // The gateway is going away: nothing is delivered or finished, so the
    // journal keeps the message for the next gateway to answer.
    return "shutdown";
  }
  if (signal.aborted) {
    const reason = String(signal.reason);
    outcome = reason;
    if (!reply && !delivery.delivered) {
      finish(context, session.id, undefined, "done", outcome);
      return outcome;
    }
    finalText = `${reply}\n\n${STOP_NOTES[reason] ?? "(stopped)"}`.trim();
  } else if (streamed.error !== undefined) {
    const why = streamed.error instanceof AgentError
      ? streamed.error.message
      : "an internal error (see the gateway log)";
    finalText = `${reply ? reply + "\n\n" : ""}⚠️ Sorry, I could not answer: ${why}.`;
    state = "failed";
    outcome = `failed: ${why}`;
  } else {
    finalText = reply || "(the agent sent an empty reply)";
    outcome = "replied";
  }
  await delivery.complete(finalText);
  // A failure note is for the user; fed back, the model would read it as its own words.
  finish(context, session.id, finalText, state, outcome, state === "failed" ? "note" : "chat");
  if (streamed.error !== undefined) {
    context.log.warn("agent turn failed", { session: entry.sessionKey, error: streamed.error });
  }
  return outcome;
}

/** Stores the reply and finishes the journal entry together. */
function finish(
  context: TurnContext,
  sessionId: number,
  reply: string | undefined,
  state: "done" | "failed",
  outcome: string,
  kind: MessageKind = "chat",
): void {
  const { db, transcripts, journal, sessions, entry } = context;
  transaction(db, () => {
    if (reply !== undefined) {
      transcripts.appendInTransaction({
        sessionId,
        platform: entry.event.source.platform,
        role: "assistant",
        text: reply,
        kind,
      });
    }
    journal.finish(entry.id, state, outcome);
    sessions.touch(sessionId);
  });
}
