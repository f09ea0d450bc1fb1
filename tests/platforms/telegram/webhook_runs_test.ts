import assert from "node:assert/strict";
import type { TgUpdate } from "../../../lib/platforms/telegram/inbound.ts";
import { WebhookRuns } from "../../../lib/platforms/telegram/webhook_runs.ts";

const chat = { id: 42, type: "private" as const };
const from = { id: 42 };
const photo = (updateId: number, group: string): TgUpdate => ({
  update_id: updateId,
  message: {
    message_id: updateId,
    date: 0,
    chat,
    from,
    media_group_id: group,
    photo: [{ file_id: `f${updateId}` }],
  },
});
const text = (updateId: number, body: string): TgUpdate => ({
  update_id: updateId,
  message: { message_id: updateId, date: 0, chat, from, text: body },
});

function recorder(fail = false) {
  const taken: number[][] = [];
  const runs = new WebhookRuns((updates) => {
    taken.push(updates.map((u) => u.update_id));
    return fail ? Promise.reject(new Error("disk full")) : Promise.resolve();
  }, 20);
  return { taken, runs };
}

Deno.test("an album's items that come out of order are taken as one run, in update_id order, and each request is answered after it", async () => {
  const { taken, runs } = recorder();
  const answered: number[] = [];
  await Promise.all([3, 1, 2].map((id) => runs.add(photo(id, "g1")).then(() => answered.push(id))));
  assert.deepEqual(taken, [[1, 2, 3]]);
  assert.deepEqual(answered.sort(), [1, 2, 3]);
  assert.equal(runs.waiting, 0);
});

Deno.test("a plain text is taken at once; two albums make two runs, taken as each closes", async () => {
  const { taken, runs } = recorder();
  await runs.add(text(1, "hello"));
  assert.deepEqual(taken, [[1]]);
  await Promise.all([runs.add(photo(2, "a")), runs.add(photo(3, "b")), runs.add(photo(4, "a"))]);
  // Album a waited longer: its last item came after album b's.
  assert.deepEqual(taken, [[1], [3], [2, 4]]);
});

Deno.test("a run that cannot be taken fails every request of it (Telegram sends them again)", async () => {
  const { runs } = recorder(true);
  const results = await Promise.allSettled([runs.add(photo(1, "g")), runs.add(photo(2, "g"))]);
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
});

Deno.test("flush() takes the runs still waiting for more, at once", async () => {
  const taken: number[][] = [];
  const runs = new WebhookRuns((updates) => {
    taken.push(updates.map((u) => u.update_id));
    return Promise.resolve();
  }, 60_000);
  const held = runs.add(photo(1, "g"));
  assert.equal(runs.waiting, 1);
  await runs.flush();
  await held;
  assert.deepEqual(taken, [[1]]);
});

Deno.test("a text sent right after an album waits behind it and is taken after it", async () => {
  const { taken, runs } = recorder();
  await Promise.all([
    runs.add(photo(1, "g")),
    runs.add(photo(2, "g")),
    runs.add(text(3, "what's in these?")),
  ]);
  assert.deepEqual(taken, [[1, 2, 3]], "one take, the album first");
});
