/**
 * Telling approved users so: `hermes pair approve` marks the approval as
 * not yet told; the gateway sends "you can now talk to the bot" on the
 * user's platform once it is connected (at start, when a platform
 * connects, and when the CLI asks over the control socket), then clears
 * the mark, so each user is told once.
 *
 * @module
 */

import type { PlatformAdapter } from "../platforms/adapter.ts";
import type { Logger } from "../util/log.ts";
import type { PairingStore } from "./pairing.ts";

/** Told to a user once the owner approved them. */
export const APPROVED_NOTICE = "You're approved: you can now talk to the bot.";

/** What {@linkcode approvalNotifier} needs. */
export interface NotifierOptions {
  readonly store: PairingStore;
  /** The adapter of a platform, when it is enabled and connected. */
  readonly connectedAdapter: (platform: string) => PlatformAdapter | undefined;
  readonly log: Logger;
}

/**
 * A function that tells every approved user not yet told (on connected
 * platforms) and returns `platform:user` of each one told. Calls never
 * overlap: one made during a delivery runs after it.
 *
 * @example
 * ```ts
 * import type { PlatformLinks } from "../platforms/links.ts";
 * import type { Logger } from "../util/log.ts";
 * import { PairingStore } from "./pairing.ts";
 * declare const links: PlatformLinks, log: Logger;
 * const store = new PairingStore("/srv/hermes/pairing");
 * const notify = approvalNotifier({
 *   store,
 *   connectedAdapter: (p) => links.isConnected(p) ? links.get(p) : undefined,
 *   log,
 * });
 * await notify(); // ["local:alice"]
 * ```
 */
export function approvalNotifier(options: NotifierOptions): () => Promise<string[]> {
  const { store, connectedAdapter, log } = options;
  let last: Promise<unknown> = Promise.resolve();

  const deliver = async (): Promise<string[]> => {
    const told: string[] = [];
    for (const user of await store.awaitingNotice()) {
      const adapter = connectedAdapter(user.platform);
      if (!adapter) continue;
      const about = { platform: user.platform, user: user.userId };
      try {
        await adapter.send(
          {
            platform: user.platform,
            chatType: "dm",
            chatId: user.chatId ?? user.userId,
            userId: user.userId,
          },
          { text: APPROVED_NOTICE, final: true },
          { idempotencyKey: `approved:${user.platform}:${user.userId}`, attempt: 1 },
        );
        await store.noticeDelivered(user.platform, user.userId);
        told.push(`${user.platform}:${user.userId}`);
        log.info("told a newly approved user", about);
      } catch (error) {
        log.warn("cannot tell an approved user yet; will retry", { ...about, error });
      }
    }
    return told;
  };

  return () => {
    const run = last.catch(() => {}).then(deliver);
    last = run;
    return run;
  };
}
