import assert from "node:assert/strict";
import { openPostgresStateStore } from "../../../lib/storage/postgres/state_store.ts";
import { LeaseLostError } from "../../../lib/storage/postgres/leases.ts";
import { freshDatabase } from "../../_postgres.ts";

Deno.test("an adapter's kept state is shared by the pool's stores, and written only under its bot's lease", async () => {
  const url = await freshDatabase();
  const lost = new Set<string>();
  await using owner = await openPostgresStateStore(url, {
    fence: (_tx, platform) => {
      if (lost.has(platform)) throw new LeaseLostError(`no lease of ${platform}`);
      return Promise.resolve();
    },
  });
  await using other = await openPostgresStateStore(url);
  const telegram = owner.platformState("telegram");
  assert.equal(await telegram.readText("offset-42.json"), undefined);
  await telegram.writeText("offset-42.json", '{"offset":7}\n');
  await telegram.writeText("offset-42.json", '{"offset":8}\n');
  assert.equal(
    await other.platformState("telegram").readText("offset-42.json"),
    '{"offset":8}\n',
    "the next owner reads what the last one wrote",
  );
  assert.equal(await other.platformState("weixin").readText("offset-42.json"), undefined);
  lost.add("telegram");
  await assert.rejects(telegram.writeText("offset-42.json", '{"offset":9}\n'), LeaseLostError);
  await owner.platformState("wecom").writeText("device_ids.json", "{}\n");
  assert.equal(
    await telegram.readText("offset-42.json"),
    '{"offset":8}\n',
    "the refused write left nothing",
  );
});

Deno.test("a turn answered by one gateway of the pool cannot be answered again by another: refused, nothing queued", async () => {
  const url = await freshDatabase();
  await using a = await openPostgresStateStore(url);
  await using b = await openPostgresStateStore(url);
  const event = {
    messageId: "m-1",
    source: { platform: "wecom", chatType: "dm" as const, chatId: "zs", userId: "zs" },
    text: "hi",
    receivedAt: new Date().toISOString(),
  };
  const entry = (await a.acceptInbound(event, "agent:main:wecom:dm:zs"))!;
  const never = () => undefined;
  const session = await a.beginTurn(entry, { expired: never, text: "hi" });
  const completion = {
    sessionId: session.id,
    reply: { text: "hello", kind: "chat" as const },
    parts: [{ text: "hello" }],
    deadline: new Date(Date.now() + 60_000).toISOString(),
    state: "done" as const,
    outcome: "replied",
  };
  await b.completeTurn(entry, completion);
  await assert.rejects(a.completeTurn(entry, completion), /answered or given up already/);
  assert.equal((await a.partsOf(entry.id)).length, 1, "one answer's part, not two");
});
