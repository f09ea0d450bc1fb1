import assert from "node:assert/strict";
import postgres from "postgres";
import { runHermes, tempDir } from "../_helpers.ts";
import { startHermes } from "../gateway/_gateway.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";
import { freshDatabase } from "../_postgres.ts";

Deno.test("hermes gateway run on storage.backend postgres answers a local message and keeps its state in the database", async () => {
  await using home = tempDir();
  const url = await freshDatabase();
  const env = { HERMES_STORAGE_BACKEND: "postgres", HERMES_DATABASE_URL: url };
  {
    await using local = await startLocalGateway(home.path, env);
    await using chat = new ChatClient(local.url, "ada");
    await chat.ready();
    assert.equal(await chat.ask("c-1", "hello over postgres"), "hello over postgres");
  }
  const db = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await db`SELECT role, text FROM messages ORDER BY id`;
    assert.deepEqual(rows.map((r) => [r.role, r.text]), [
      ["user", "hello over postgres"],
      ["assistant", "hello over postgres"],
    ]);
    const [journal] = await db`SELECT count(*)::int AS n FROM inbound_journal WHERE state = 'done'`;
    assert.equal(journal?.n, 1);
  } finally {
    await db.end();
  }
  await assert.rejects(Deno.stat(`${home.path}/state.db`), Deno.errors.NotFound, "no state.db");
  const sessions = await runHermes(["sessions", "list", "--json"], { home: home.path, env });
  assert.equal(sessions.code, 0, sessions.stderr);
  assert.deepEqual(
    (JSON.parse(sessions.stdout) as { platform: string; message_count: number }[])
      .map((s) => [s.platform, s.message_count]),
    [["local", 2]],
    "hermes sessions reads the same database",
  );
});

Deno.test("a gateway on postgres whose connections the server kills between messages answers the next one and keeps running", async () => {
  await using home = tempDir();
  const url = await freshDatabase();
  const env = { HERMES_STORAGE_BACKEND: "postgres", HERMES_DATABASE_URL: url };
  await using local = await startLocalGateway(home.path, env);
  await using chat = new ChatClient(local.url, "ada");
  await chat.ready();
  assert.equal(await chat.ask("c-1", "before"), "before");
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const killed = await admin`SELECT pg_terminate_backend(pid) AS gone FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'hermes'`;
    assert.ok(killed.length > 0, "the gateway had connections to kill");
  } finally {
    await admin.end();
  }
  assert.equal(await chat.ask("c-2", "after"), "after");
  assert.equal(await chat.ask("c-3", "and again"), "and again");
  const status = await runHermes(["gateway", "status", "--json"], {
    home: home.path,
    env: { ...env, HERMES_GATEWAY_LOCK_DIR: `${home.path}/locks` },
  });
  const report = JSON.parse(status.stdout);
  assert.equal(report.state, "running", status.stderr);
  assert.deepEqual(report.storage, { backend: "postgres", up: true });
  const human = await runHermes(["gateway", "status"], {
    home: home.path,
    env: { ...env, HERMES_GATEWAY_LOCK_DIR: `${home.path}/locks` },
  });
  assert.match(human.stdout, /^ {2}storage: postgres, connected$/m);
});

Deno.test("a storage.url that is not postgres:// is a config error (exit 78) naming the fix, password unshown", async () => {
  await using home = tempDir();
  const result = await runHermes(["config", "check"], {
    home: home.path,
    env: {
      HERMES_STORAGE_BACKEND: "postgres",
      HERMES_DATABASE_URL: "mysql://hermes:hunter2-secret@db.internal/hermes",
    },
  });
  assert.equal(result.code, 78, result.stderr);
  assert.equal(
    result.stderr,
    "hermes: Cannot load config from environment variable HERMES_DATABASE_URL: storage.url: not a postgres:// URL; write it as postgres://user:password@host:5432/database\n",
  );
  assert.doesNotMatch(result.stdout + result.stderr, /hunter2/);
});

Deno.test("a database server that cannot be reached stops the gateway with one line naming it and the fix, password masked", async () => {
  await using home = tempDir();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close(); // nothing listens there now
  await using gateway = startHermes(home.path, ["gateway", "run"], {
    HERMES_STORAGE_BACKEND: "postgres",
    HERMES_DATABASE_URL: `postgres://hermes:hunter2-secret@127.0.0.1:${port}/hermes`,
  });
  const code = await gateway.exited;
  const stderr = gateway.stderr();
  assert.equal(code, 75, stderr);
  assert.match(
    stderr,
    new RegExp(
      `Cannot open the database at postgres://hermes:\\*\\*\\*@127\\.0\\.0\\.1:${port}/hermes: cannot connect to the database server \\(.*ECONNREFUSED`,
    ),
  );
  const lines = stderr.trim().split("\n").filter((line) => line.startsWith("hermes: "));
  assert.equal(lines.length, 1, stderr);
  assert.match(
    lines[0]!,
    /ECONNREFUSED.*\); check that PostgreSQL runs and that storage\.url \(HERMES_DATABASE_URL\) names it$/,
  );
  assert.doesNotMatch(stderr, /hunter2/);
});
