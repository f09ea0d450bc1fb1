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

Deno.test("a message alone takes four commits: accepted, begun, answered with its first try counted, sent", async () => {
  await using dir = tempDir();
  using store = openSqliteStateStore(`${dir.path}/state.db`);
  const source = { platform: "local", chatType: "dm" as const, chatId: "ada", userId: "ada" };
  const flow = async (id: string) => {
    const entry = (await store.acceptInbound({
      messageId: id,
      source,
      text: `question ${id}`,
      receivedAt: new Date().toISOString(),
    }, "agent:main:local:dm:ada"))!;
    await store.admitInbound(entry);
    const session = await store.beginTurn(entry, {
      expired: () => undefined,
      text: entry.event.text,
    });
    await store.completeTurn(entry, {
      sessionId: session.id,
      reply: { text: `answer ${id}`, kind: "chat" },
      parts: [{ text: `answer ${id}` }],
      deadline: new Date(Date.now() + 60_000).toISOString(),
      state: "done",
      outcome: "replied",
    });
    const [part] = await store.partsOf(entry.id);
    assert.equal(await store.startSending(part!.id), 1);
    await store.partSent(part!.id, `sent-${id}`);
  };
  await flow("first"); // opens the session: a commit of its own
  const before = store.commits;
  await flow("second");
  assert.equal(store.commits - before, 4);
  assert.deepEqual((await store.partsOf(2)).map((p) => [p.state, p.attempts]), [["sent", 1]]);
});
