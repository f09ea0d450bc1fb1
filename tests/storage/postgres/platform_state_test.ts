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
