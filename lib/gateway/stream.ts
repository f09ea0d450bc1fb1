/**
 * The stream consumer: reads the agent's deltas, shows the growing reply
 * (every delta where edits are free, throttled by interval and size where
 * they are rate-limited, not at all where the platform cannot edit) and
 * delivers the final text. A preview the platform refuses is skipped: it
 * never ends the turn, and it is never the agent's failure.
 *
 * @module
 */

import type { Previews } from "./previews.ts";

/** How progressive edits are paced. */
export interface StreamPacing {
  /** Edits cost nothing: show every delta. */
  readonly live: boolean;
  /** Least time between two edits. */
  readonly intervalMs: number;
  /** Least new characters between two edits. */
  readonly bufferChars: number;
  readonly now?: () => number;
  /**
   * Hears a preview the platform refused. Previews are best effort: the
   * stream goes on, the next preview tries again, the final text decides.
   */
  readonly onPreviewError?: (error: unknown) => void;
  /** Whether the platform's budget has room for a preview now (default: always). */
  readonly budget?: () => boolean;
}

/** How a streamed reply ended. */
export interface StreamOutcome {
  /** Everything the agent produced. */
  readonly text: string;
  /** The error that ended the stream early, if any. */
  readonly error?: unknown;
}

/**
 * Consumes `deltas` into `previews` (when given: platforms that stream by
 * editing); the final text is not delivered here
 * (the caller decides what to add on errors or interruptions).
 *
 * @example
 * ```ts
 * import type { Agent, AgentTurn } from "../agent/agent.ts";
 * import type { Previews } from "./previews.ts";
 * declare const agent: Agent, turn: AgentTurn, previews: Previews;
 * const pacing = { live: true, intervalMs: 0, bufferChars: 1 };
 * const { text, error } = await consumeStream(agent.run(turn), previews, pacing);
 * ```
 */
export async function consumeStream(
  deltas: AsyncIterable<string>,
  previews: Previews | undefined,
  pacing: StreamPacing,
): Promise<StreamOutcome> {
  const now = pacing.now ?? Date.now;
  let text = "";
  let shownLength = 0;
  let shownAt = now();
  try {
    for await (const delta of deltas) {
      text += delta;
      const due = pacing.live ||
        (now() - shownAt >= pacing.intervalMs && text.length - shownLength >= pacing.bufferChars);
      if (previews && due && text.trim() && (pacing.budget?.() ?? true)) {
        try {
          await previews.show(text);
        } catch (error) {
          pacing.onPreviewError?.(error);
        }
        shownLength = text.length;
        shownAt = now();
      }
    }
    return { text };
  } catch (error) {
    return { text, error };
  }
}
