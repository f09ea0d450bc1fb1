/**
 * The echo agent: replies with exactly the user's text. It is the default
 * when no model is configured, so a fresh gateway answers at once.
 *
 * @module
 */

import type { Agent, AgentTurn } from "./agent.ts";

/**
 * Replies with the last user message, streamed word by word.
 *
 * @example
 * ```ts
 * import type { AgentTurn } from "./agent.ts";
 * declare const turn: AgentTurn;
 * const agent = new EchoAgent();
 * for await (const delta of agent.run(turn)) console.log(delta);
 * ```
 */
export class EchoAgent implements Agent {
  readonly provider = "echo";
  readonly description =
    "echo (replies with the message it receives; set HERMES_MODEL for a model)";

  async *run(turn: AgentTurn): AsyncIterable<string> {
    const text = turn.history.findLast((m) => m.role === "user")?.content ?? "";
    for (const word of text.split(/(?<=\s)/)) {
      if (turn.signal.aborted) return;
      yield word;
    }
  }
}
