/**
 * One agent turn: store the user's message, run the agent on the session's
 * history (think-blocks filtered), show the reply as it grows where the
 * platform edits, then complete the turn in one unit of work: the reply in
 * the transcript and its final parts in the outbox, which sends them. From
 * then on the reply is delivered from the rows; the agent is never asked
 * again for it.
 *
 * @module
 */

import { type Agent, AgentError } from "../agent/agent.ts";
import { filterThinkBlocks } from "../agent/think_filter.ts";
import type { Config } from "../config/schema.ts";
import type { PlatformAdapter } from "../platforms/adapter.ts";
import { capabilitiesOf, streamingFor } from "../platforms/capabilities.ts";
import { sessionKey } from "../sessions/key.ts";
import type { Attachment, SessionSource } from "../platforms/event.ts";
import {
  chatKeyOf,
  type Expiry,
  type InboundEntry,
  type MessageKind,
  type NewPart,
  type StateStore,
} from "../storage/state_store.ts";
import type { RateBudgets } from "./rate_budget.ts";
import type { Logger } from "../util/log.ts";
import { maskCredentials } from "../util/secret_mask.ts";
import { chunkText } from "./chunk_text.ts";
import { parseSlashCommand } from "./commands.ts";
import { outboundMedia } from "./outbound_media.ts";
import { Previews } from "./previews.ts";
import { askedBy, type RecentHistory } from "./recent_history.ts";
import { consumeStream } from "./stream.ts";
import { keepTyping } from "./typing.ts";

/** Everything one turn touches. */
export interface TurnContext {
  readonly entry: InboundEntry;
  /** Aborted with a reason ("interrupted", "stopped", "reset", "shutdown") to stop the turn. */
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
  /** When the reply's parts stop being worth delivering (ISO). */
  readonly deadline: string;
  /** The platforms' send budgets: previews go only when there is room. */
  readonly budgets?: RateBudgets;
  /** Folders a reply's `MEDIA:` lines may send files from (the media cache, `agent.media_dirs`). */
  readonly mediaFolders?: readonly string[];
  /** Whether the chat has earlier parts still going out (previews wait for them). */
  readonly chatHeld?: (chatKey: string) => boolean;
  /** The agent's recent history per session, kept in memory (read from the transcript once). */
  readonly recent: RecentHistory;
  /** Keeps a copy of a file a reply sends (in the media cache). */
  readonly keepFile?: (bytes: Uint8Array, name: string) => Promise<Attachment>;
}

/** How a turn ended: the outcome recorded in the journal, and whether parts were queued. */
export interface TurnOutcome {
  readonly outcome: string;
  /** Final parts went into the outbox (the turn settles when they are delivered). */
  readonly queued: boolean;
}

const STOP_NOTES: Record<string, string> = {
  interrupted: "(interrupted by your newer message)",
  stopped: "(stopped)",
  reset: "(stopped: new session)",
};

/**
 * Runs the turn and completes it; resolves with its outcome ("replied",
 * "failed: ...", "interrupted", "shutdown", ...).
 *
 * @example
 * ```ts
 * declare const context: TurnContext; // the entry, its adapter, agent, store, deadline, ...
 * const { outcome } = await runTurn(context);
 * ```
 */
export async function runTurn(context: TurnContext): Promise<TurnOutcome> {
  const { entry, signal, adapter, agent, config, store } = context;
  const event = entry.event;
  const command = parseSlashCommand(event.text);
  const text = command?.name === "queue" ? command.args : event.text;
  // One unit of work: the session (reset policy applied) and the user's message, once.
  const session = await store.beginTurn(entry, { expired: context.expired, text });
  // Stored just now (not by a run of this turn before a drain or a crash): the held history grows.
  if (entry.transcriptId === null) {
    context.recent.add(entry.sessionKey, session.id, [askedBy(text, event)]);
  }
  const limit = config.agent.history_limit;
  const history = await context.recent.of(
    entry.sessionKey,
    session.id,
    async () =>
      (await store.history(session.id, { limit })).map((m) => ({
        role: m.role,
        content: m.text,
        ...(m.attachments.length ? { attachments: m.attachments } : {}),
      })),
  );
  /** Completes the turn in one unit of work; the held history gets the reply the agent may see. */
  const complete = async (
    completion: Omit<Parameters<StateStore["completeTurn"]>[1], "sessionId">,
  ) => {
    try {
      await store.completeTurn(entry, { ...completion, sessionId: session.id });
    } catch (error) {
      context.recent.forget(entry.sessionKey);
      throw error;
    }
    if (completion.reply?.kind === "chat") {
      context.recent.add(entry.sessionKey, session.id, [
        { role: "assistant", content: completion.reply.text },
      ]);
    }
  };

  const capabilities = capabilitiesOf(adapter);
  const previews = streamingFor(adapter, event.source.chatType) !== "final"
    ? new Previews({
      adapter,
      to: event.source,
      replyTo: event.messageId,
      key: `inbound:${entry.id}`,
      store,
    })
    : undefined;
  const stopTyping = keepTyping(adapter, event.source, context.log);
  const deltas = untilFirst(
    stopTyping,
    filterThinkBlocks(
      agent.run({
        sessionKey: context.agentSource === event.source ? entry.sessionKey : sessionKey(
          context.agentSource,
          { groupSessionsPerUser: config.sessions.group_sessions_per_user },
        ),
        source: context.agentSource,
        history,
        signal,
      }),
    ),
  );
  const streamed = await consumeStream(deltas, previews, {
    live: capabilities.livePreviews,
    intervalMs: config.gateway.stream_edit_interval * 1000,
    bufferChars: config.gateway.stream_buffer_chars,
    budget: () =>
      !(context.chatHeld?.(chatKeyOf(event.source)) ?? false) &&
      (context.budgets?.tryPreview(adapter, chatKeyOf(event.source)) ?? true),
    onPreviewError: (error) =>
      context.log.warn("the platform refused a preview; the reply goes on", {
        session: entry.sessionKey,
        error,
      }),
  });
  stopTyping();
  const reply = streamed.text.trim();

  if (signal.aborted && signal.reason === "shutdown") {
    // The gateway is going away: nothing is completed, so the journal keeps
    // the message for the next gateway to answer.
    return { outcome: "shutdown", queued: false };
  }
  let finalText: string;
  const errorId = streamed.error === undefined ? "" : newErrorId();
  let state: "done" | "failed" = "done";
  let outcome: string;
  if (signal.aborted) {
    const reason = String(signal.reason);
    outcome = reason;
    if (!reply && !previews?.shown) {
      await complete({
        parts: [],
        deadline: context.deadline,
        state: "done",
        outcome,
      });
      return { outcome, queued: false };
    }
    finalText = `${reply}\n\n${STOP_NOTES[reason] ?? "(stopped)"}`.trim();
  } else if (streamed.error !== undefined) {
    // The user gets the summary and an id; the provider's words, which may
    // echo a key or another user's prompt, go to the log under that id.
    const why = streamed.error instanceof AgentError ? streamed.error.message : "an internal error";
    finalText = `${reply ? reply + "\n\n" : ""}⚠️ Sorry, I could not answer: ${why} ` +
      `(error id ${errorId}). The operator can look it up in the gateway log.`;
    state = "failed";
    outcome = `failed: ${why} (error id ${errorId})`;
  } else {
    finalText = reply || "(the agent sent an empty reply)";
    outcome = "replied";
  }
  const { text: shownText, files } = await filesOf(finalText, context, capabilities.mediaOut);
  finalText = shownText;
  // A failure note is for the user; fed back, the model would read it as its own words.
  const kind: MessageKind = state === "failed" ? "note" : "chat";
  await complete({
    reply: { text: finalText, kind },
    // What an agent writes is markdown: platforms that format (Telegram) show it formatted.
    parts: withFiles(
      previews
        ? await previews.finalParts(finalText)
        : chunkText(finalText, capabilities.maxMessageLength, capabilities.lengthUnit)
          .map((c) => ({ text: c.text })),
      files,
    ).map((part) => ({ ...part, format: "markdown" as const })),
    deadline: context.deadline,
    state,
    outcome,
  });
  if (streamed.error !== undefined) {
    const detail = streamed.error instanceof AgentError ? streamed.error.detail : undefined;
    context.log.warn("agent turn failed", {
      session: entry.sessionKey,
      error_id: errorId,
      error: streamed.error,
      detail: detail === undefined ? undefined : maskCredentials(detail),
    });
  }
  return { outcome, queued: true };
}

/** Six hex digits naming one failure in the reply and in the log line. */
function newErrorId(): string {
  return [...crypto.getRandomValues(new Uint8Array(3))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Passes `deltas` through, calling `onFirst` when the first one arrives. */
async function* untilFirst(onFirst: () => void, deltas: AsyncIterable<string>) {
  let first = true;
  for await (const delta of deltas) {
    if (first) {
      first = false;
      onFirst();
    }
    yield delta;
  }
}

/**
 * The files a reply's `MEDIA:` lines send: those the platform takes go with
 * the reply, the others are named in a note; paths outside the allowed
 * folders are refused (logged, and said so in the reply).
 */
async function filesOf(
  text: string,
  context: TurnContext,
  mediaOut: readonly Attachment["kind"][],
): Promise<{ text: string; files: Attachment[] }> {
  const media = await outboundMedia(text, context.mediaFolders ?? [], context.keepFile);
  if (media.files.length === 0 && media.refused.length === 0) return { text, files: [] };
  const notes: string[] = [];
  const files: Attachment[] = [];
  for (const file of media.files) {
    if (mediaOut.includes(file.kind)) files.push(file);
    else notes.push(`[file: ${file.name} (${file.mime}, ${file.size} bytes)]`);
  }
  for (const { path, why } of media.refused) {
    context.log.warn("refused to send a file a reply named", { path, why });
    notes.push(`[not sent: ${path.split("/").pop()}]`);
  }
  return { text: [media.text, ...notes].filter(Boolean).join("\n"), files };
}

/** The reply's parts, its files going with the last one. */
function withFiles(parts: NewPart[], files: readonly Attachment[]): NewPart[] {
  if (files.length === 0 || parts.length === 0) return parts;
  const last = parts.length - 1;
  return parts.map((part, i) => (i === last ? { ...part, attachments: files } : part));
}
