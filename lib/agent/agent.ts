/**
 * The agent contract: one turn in, a stream of text deltas out. The pipeline
 * owns sessions, history and delivery; an agent only answers.
 *
 * @module
 */

import { HermesError } from "../errors.ts";
import type { Attachment, SessionSource } from "../platforms/event.ts";

/** One message of the history an agent sees. */
export interface AgentMessage {
  readonly role: "user" | "assistant" | "system";
  readonly content: string;
  /** Files that came with it (their `path` is in the media cache). */
  readonly attachments?: readonly Attachment[];
}

/** What an agent gets for one turn. */
export interface AgentTurn {
  readonly sessionKey: string;
  readonly source: SessionSource;
  /** The session's messages, oldest first; the last one is the user's new message. */
  readonly history: readonly AgentMessage[];
  /** Aborted when the turn is interrupted (`/stop`, a newer message, shutdown). */
  readonly signal: AbortSignal;
}

/** Answers turns. */
export interface Agent {
  /** Provider name (`echo`, `openai`, `command`). */
  readonly provider: string;
  /** One line for the start log and `/status`, e.g. `openai gpt-4o-mini at https://...`. */
  readonly description: string;
  /** Streams the reply's text deltas. Throws AgentError when the provider fails. */
  run(turn: AgentTurn): AsyncIterable<string>;
}

/**
 * The agent's provider failed. `message` is a short summary safe to show to
 * the user (a status, a timeout: never the provider's own words); `detail`
 * is what the provider said, for the gateway log only (masked there).
 *
 * @example
 * ```ts
 * throw new AgentError("the model refused the request (HTTP 401)", { detail: "Incorrect API key" });
 * ```
 */
export class AgentError extends HermesError {
  /** The provider's own words (error body, stderr line), for the log only. */
  readonly detail: string | undefined;

  constructor(message: string, options?: ErrorOptions & { detail?: string }) {
    super("agent_failed", message, options);
    this.name = "AgentError";
    this.detail = options?.detail || undefined;
  }
}
