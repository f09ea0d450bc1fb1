import assert from "node:assert/strict";
import postgres from "postgres";
import { openPostgresStateStore } from "../../../lib/storage/postgres/state_store.ts";
import { PG_MIGRATIONS } from "../../../lib/storage/postgres/migrations.ts";
import { freshDatabase } from "../../_postgres.ts";

async function query<T>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await run(sql);
  } finally {
    await sql.end();
  }
}

Deno.test("gateways opening a new database together migrate it once: the others wait and find it done", async () => {
  const url = await freshDatabase();
  const stores = await Promise.all([1, 2, 3, 4].map(() => openPostgresStateStore(url, { max: 1 })));
  try {
    const versions = await query(url, (sql) => sql`SELECT version FROM schema_migrations`);
    assert.deepEqual(versions.map((r) => r.version), PG_MIGRATIONS.map((m) => m.version));
    assert.equal((await stores[0]!.listSessions()).length, 0);
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
});

Deno.test("a database a newer hermes migrated is refused, naming what to upgrade", async () => {
  const url = await freshDatabase();
  await (await openPostgresStateStore(url)).close();
  await query(
    url,
    (sql) => sql`INSERT INTO schema_migrations (version, name) VALUES (99, 'later')`,
  );
  await assert.rejects(openPostgresStateStore(url), (error: Error & { code?: string }) => {
    assert.equal(error.code, "store_too_new");
    assert.match(error.message, /schema 99, this one knows \d+\); upgrade hermes$/);
    return true;
  });
});

Deno.test("a read-only store of an empty database says to start the gateway once, creating nothing", async () => {
  const url = await freshDatabase();
  await assert.rejects(
    openPostgresStateStore(url, { readOnly: true }),
    /^HermesError: Cannot read the database at postgres:\/\/.*: it holds no hermes state yet; start the gateway on it once/,
  );
  const [table] = await query(
    url,
    (sql) => sql`SELECT to_regclass('schema_migrations') IS NULL AS absent`,
  );
  assert.equal(table?.absent, true);
});

Deno.test("a read-only store refuses to write", async () => {
  const url = await freshDatabase();
  await (await openPostgresStateStore(url)).close();
  const store = await openPostgresStateStore(url, { readOnly: true });
  try {
    await assert.rejects(
      store.acceptInbound({
        messageId: "m-1",
        source: { platform: "test", chatType: "dm", chatId: "ada" },
        text: "hi",
        receivedAt: "2026-06-01T10:00:00.000Z",
      }, "k1"),
      /Cannot write: the store was opened read-only/,
    );
    assert.deepEqual(await store.listSessions(), []);
  } finally {
    await store.close();
  }
});
