import assert from "node:assert/strict";
import { TelegramApi } from "../../../lib/platforms/telegram/api.ts";
import type { TgUpdate } from "../../../lib/platforms/telegram/inbound.ts";
import { TelegramPoller } from "../../../lib/platforms/telegram/poller.ts";
import { LinkHealthTracker } from "../../../lib/platforms/health.ts";
import { Logger } from "../../../lib/util/log.ts";
import { SecretMasker } from "../../../lib/util/secret_mask.ts";
import { TelegramServer } from "../../fakes/telegram_server.ts";

function poller(tg: TelegramServer, onBatch: (updates: readonly TgUpdate[]) => Promise<void>) {
  const health = new LinkHealthTracker();
  const saved: number[] = [];
  const p = new TelegramPoller({
    api: new TelegramApi({ token: tg.token, baseUrl: tg.url }),
    offset: undefined,
    pollTimeoutS: 2,
    stallMs: 5_000,
    health,
    log: new Logger({ level: "error", sinks: [], masker: new SecretMasker() }),
    onBatch,
    saveOffset: (offset) => Promise.resolve(void saved.push(offset)),
    onUnauthorized: () => {},
  });
  return { p, health, saved };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("the link reads subscribed only once Telegram holds or answers a poll", async () => {
  await using tg = await TelegramServer.start({ maxLongPollMs: 2_000 });
  const { p, health } = poller(tg, () => Promise.resolve());
  p.start();
  await wait(300);
  assert.equal(health.state, "connecting", "nothing answered yet");
  await wait(1_500);
  assert.equal(health.state, "subscribed", "the poll is held: the link listens");
  await p.stop();
});

Deno.test("a batch that cannot be journaled is not confirmed: it comes again, and the link reads degraded meanwhile", async () => {
  await using tg = await TelegramServer.start({ maxLongPollMs: 500 });
  const ada = tg.addUser({ first_name: "Ada" });
  let failures = 1;
  const taken: number[] = [];
  const { p, health, saved } = poller(tg, (updates) => {
    if (failures-- > 0) return Promise.reject(new Error("database is locked"));
    taken.push(...updates.map((u) => u.update_id));
    return Promise.resolve();
  });
  tg.userText(ada.id, "hello");
  p.start();
  for (let i = 0; i < 100 && health.state !== "degraded"; i++) await wait(20);
  assert.equal(health.state, "degraded");
  assert.equal(health.snapshot().last_error?.code, "journal_failed");
  for (let i = 0; i < 300 && taken.length === 0; i++) await wait(20);
  assert.equal(taken.length, 1, "the same update, the second time");
  assert.deepEqual(saved, [taken[0]! + 1], "the offset moves only past what was journaled");
  // The poll after the batch carries the new offset, which is what confirms it to Telegram.
  for (let i = 0; i < 300 && tg.pendingUpdates().length > 0; i++) await wait(20);
  assert.equal(tg.pendingUpdates().length, 0, "the next poll confirmed it");
  await p.stop();
});
