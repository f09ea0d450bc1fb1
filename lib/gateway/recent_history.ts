/**
 * The agent's recent history of each session, kept in memory: a turn reads
 * the transcript only when its session is not held here (the first message
 * after a start, or after the session fell out of the bound), and every
 * completed turn adds its message and reply. Bounded twice: at most
 * `perSession` messages of a session, at most `sessions` sessions (the
 * least recently used goes first).
 *
 * @module
 */

import type { AgentMessage } from "../agent/agent.ts";
import type { Attachment } from "../platforms/event.ts";

/** The user's message `text` (with the files it came with) as the agent's history holds it. */
export function askedBy(
  text: string,
  event: { readonly attachments?: readonly Attachment[] },
): AgentMessage {
  return {
    role: "user",
    content: text,
    ...(event.attachments?.length ? { attachments: event.attachments } : {}),
  };
}

interface Held {
  readonly sessionId: number;
  readonly messages: AgentMessage[];
}

/**
 * Recent agent history per session key.
 *
 * @example
 * ```ts
 * const recent = new RecentHistory({ perSession: 50 });
 * const key = "agent:main:local:dm:ada";
 * await recent.of(key, 7, () => Promise.resolve([])); // read once from the transcript
 * recent.add(key, 7, [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }]);
 * await recent.of(key, 7, () => Promise.resolve([])); // the two, from memory
 * ```
 */
export class RecentHistory {
  readonly #held = new Map<string, Held>();
  readonly #perSession: number;
  readonly #sessions: number;

  constructor(options: { perSession: number; sessions?: number }) {
    this.#perSession = Math.max(1, options.perSession);
    this.#sessions = Math.max(1, options.sessions ?? 256);
  }

  /** How many sessions are held. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * The history of session `sessionId` under `key`, oldest first: from
   * memory, or from `load` (the transcript) when not held or when the key's
   * session changed. A copy: the caller may keep it.
   */
  async of(
    key: string,
    sessionId: number,
    load: () => Promise<AgentMessage[]>,
  ): Promise<AgentMessage[]> {
    const held = this.#held.get(key);
    if (held?.sessionId === sessionId) {
      this.#held.delete(key); // most recently used last
      this.#held.set(key, held);
      return [...held.messages];
    }
    const messages = (await load()).slice(-this.#perSession);
    this.#hold(key, { sessionId, messages });
    return [...messages];
  }

  /** Adds what a turn stored to a held session (a session not held is read when next needed). */
  add(key: string, sessionId: number, messages: readonly AgentMessage[]): void {
    const held = this.#held.get(key);
    if (held?.sessionId !== sessionId) return;
    held.messages.push(...messages);
    if (held.messages.length > this.#perSession) {
      held.messages.splice(0, held.messages.length - this.#perSession);
    }
  }

  /** Drops what is held for `key` (a write that may not have landed): read again next time. */
  forget(key: string): void {
    this.#held.delete(key);
  }

  #hold(key: string, held: Held): void {
    this.#held.delete(key);
    this.#held.set(key, held);
    while (this.#held.size > this.#sessions) {
      this.#held.delete(this.#held.keys().next().value!);
    }
  }
}
