/**
 * "Typing…" while the agent thinks, on platforms that show it: shown at the
 * start of a turn and refreshed (platforms drop it after a few seconds)
 * until the first text arrives or the turn ends. Best effort: a refusal is
 * logged, never the turn's failure.
 *
 * @module
 */

import type { PlatformAdapter } from "../platforms/adapter.ts";
import type { SessionSource } from "../platforms/event.ts";
import type { Logger } from "../util/log.ts";

/** How often the indicator is refreshed. */
export const TYPING_REFRESH_MS = 4_000;

/**
 * Shows "typing…" in the chat of `to` until the returned function is called.
 *
 * @example
 * ```ts
 * import type { PlatformAdapter } from "../platforms/adapter.ts";
 * import type { MessageEvent } from "../platforms/event.ts";
 * import type { Logger } from "../util/log.ts";
 * declare const adapter: PlatformAdapter, event: MessageEvent, log: Logger;
 * declare const deltas: AsyncIterable<string>; // the agent's reply
 * const stopTyping = keepTyping(adapter, event.source, log);
 * for await (const _delta of deltas) stopTyping(); // the first words end it
 * ```
 */
export function keepTyping(
  adapter: PlatformAdapter,
  to: SessionSource,
  log: Logger,
  refreshMs = TYPING_REFRESH_MS,
): () => void {
  if (!adapter.typing || adapter.capabilities.typing !== true) return () => {};
  const show = () =>
    void adapter.typing!(to).catch((error) =>
      log.debug("the platform refused a typing indicator", { error })
    );
  show();
  const timer = setInterval(show, refreshMs);
  return () => clearInterval(timer);
}
