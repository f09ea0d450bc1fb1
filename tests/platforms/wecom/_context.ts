/**
 * A WeCom adapter in the test process, with a real media cache and
 * downloader, against the simulator: for what the e2e tests cannot time
 * (a stop while a file is being fetched, a retry of half a part).
 *
 * @module
 */

import { WecomAdapter } from "../../../lib/platforms/wecom/adapter.ts";
import type { WecomSettings } from "../../../lib/platforms/wecom/section.ts";
import { LinkHealthTracker } from "../../../lib/platforms/health.ts";
import type { MessageEvent } from "../../../lib/platforms/event.ts";
import { MediaCache } from "../../../lib/media/cache.ts";
import { downloadMedia } from "../../../lib/media/download.ts";
import { lineSink, Logger } from "../../../lib/util/log.ts";
import { SecretMasker } from "../../../lib/util/secret_mask.ts";

/** Settings as the schema would give them, for the simulator at `url`. */
export function testSettings(url: string, extra: Partial<WecomSettings> = {}): WecomSettings {
  return {
    bot_id: "bot-1",
    secret: "secret-1",
    websocket_url: url,
    heartbeat_interval_seconds: 30,
    heartbeat_timeout_seconds: 10,
    idle_resubscribe_seconds: 0,
    superseded_retry_seconds: 300,
    text_batch_delay_seconds: 0,
    text_batch_split_delay_seconds: 2,
    media_allow_addresses: ["127.0.0.1"],
    allow_all_users: false,
    allow_from: [],
    group_allow_from: [],
    groups: {},
    admin_from: [],
    ...extra,
  } as WecomSettings;
}

/** An adapter whose emitted events (and when) are recorded; `emit` may be slowed. */
export function testAdapter(
  url: string,
  stateDir: string,
  options: { settings?: Partial<WecomSettings>; emitDelayMs?: number } = {},
) {
  const health = new LinkHealthTracker();
  const emitted: { at: number; event: MessageEvent }[] = [];
  const lines: string[] = [];
  const media = new MediaCache(`${stateDir}/media`);
  const adapter = new WecomAdapter({
    env: {},
    settings: testSettings(url, options.settings),
    emit: async (event) => {
      if (options.emitDelayMs) await new Promise((r) => setTimeout(r, options.emitDelayMs));
      emitted.push({ at: performance.now(), event });
      return "accepted";
    },
    log: new Logger({
      level: "debug",
      sinks: [lineSink("json", (line) => lines.push(line))],
      masker: new SecretMasker(),
    }),
    now: () => new Date(),
    stateDir,
    health,
    gatewayStatus: () => ({}),
    history: () => Promise.resolve([]),
    commands: [],
    commandMenus: [],
    fetch,
    media: {
      store: (bytes, meta) => media.store(bytes, meta),
      download: (u, more) => downloadMedia(u, { cache: media, ...more }),
      open: (name) => media.open(name),
    },
    credentialLock: () => Promise.resolve(),
  });
  return { adapter, health, emitted, lines };
}
