import assert from "node:assert/strict";
import { openSqliteStateStore } from "../../../lib/storage/sqlite/state_store.ts";
import { stateStoreConformance } from "../state_store_conformance.ts";
import { tempDir } from "../../_helpers.ts";

stateStoreConformance("SQLite", (dir, now) => openSqliteStateStore(`${dir}/state.db`, { now }));

Deno.test("writes asked for together share a commit, and a read asked for after a write, awaited or not, sees it", async () => {
  await using dir = tempDir();
  using store = openSqliteStateStore(`${dir.path}/state.db`);
  const event = (id: string) => ({
    messageId: id,
    source: { platform: "local", chatType: "dm" as const, chatId: id, userId: id },
    text: `hello ${id}`,
    receivedAt: new Date().toISOString(),
  });
  const before = store.commits;
  const accepted = ["a", "b", "c"].map((id) => store.acceptInbound(event(id), `key:${id}`));
  const seen = await store.unfinishedInbound(); // not awaited above: still sees all three
  assert.deepEqual(seen.map((e) => e.event.messageId).sort(), ["a", "b", "c"]);
  assert.ok((await Promise.all(accepted)).every((entry) => entry !== undefined));
  assert.equal(store.commits - before, 1, "three accepts, one commit");
});
