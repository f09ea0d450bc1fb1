/**
 * One agent turn: store the user's message, run the agent on the session's
 * history (think-blocks filtered), stream the reply out, then store the
 * reply and finish the journal entry in one transaction.
 *
 * @module
 */

import { type Agent, AgentError, type AgentMessage } from "../agent/agent.ts";
import { filterThinkBlocks } from "../agent/think_filter.ts";
import type { Config } from "../config/schema.ts";
import type { PlatformAdapter } from "../platforms/adapter.ts";
import { sessionKey } from "../sessions/key.ts";
import type { SessionSource } from "../platforms/event.ts";
import type { Expiry, InboundEntry, MessageKind, StateStore } from "../storage/state_store.ts";
import type { Logger } from "../util/log.ts";
import { ReplyDelivery } from "./delivery.ts";
import { parseSlashCommand } from "./commands.ts";
import { consumeStream } from "./stream.ts";

/** Everything one turn touches. */
export interface TurnContext {
  readonly entry: InboundEntry;
  /** Aborted with a reason ("interrupted", "stopped", "reset") to stop the turn. */
  readonly signal: AbortSignal;
  readonly adapter: PlatformAdapter;
  readonly agent: Agent;
  readonly config: Config;
  readonly store: StateStore;
  readonly log: Logger;
  /** Whether the entry's open session expired under its reset policy. */
  readonly expired: Expiry;
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
  const { entry, signal, adapter, agent, config, store } = context;
  const event = entry.event;
  const command = parseSlashCommand(event.text);
  const text = command?.name === "queue" ? command.args : event.text;
  // One unit of work: the session (reset policy applied) and the user's message, once.
  const session = await store.beginTurn(entry, { expired: context.expired, text });
  const history: AgentMessage[] = (await store.history(session.id, {
    limit: config.agent.history_limit,
  })).map((m) => ({ role: m.role, content: m.text }));

  const delivery = new ReplyDelivery({
    adapter,
    to: event.source,
    replyTo: event.messageId,
    key: `inbound:${entry.id}`,
    store,
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
      await store.completeTurn(entry, { sessionId: session.id, state: "done", outcome });
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
  const kind: MessageKind = state === "failed" ? "note" : "chat";
  await store.completeTurn(entry, {
    sessionId: session.id,
    reply: { text: finalText, kind },
    state,
    outcome,
  });
  if (streamed.error !== undefined) {
    context.log.warn("agent turn failed", { session: entry.sessionKey, error: streamed.error });
  }
  return outcome;
}
