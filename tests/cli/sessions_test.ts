import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { sessionKey } from "../../lib/sessions/key.ts";
import type { SessionSource } from "../../lib/platforms/event.ts";
import { SessionStore } from "../../lib/storage/sqlite/sessions.ts";
import { TranscriptStore } from "../../lib/storage/sqlite/transcripts.ts";
import { openDatabase, transaction } from "../../lib/storage/sqlite/database.ts";
import { SearchIndex } from "../../lib/storage/sqlite/search_index.ts";
import { STATE_MIGRATIONS } from "../../lib/storage/sqlite/migrations.ts";
import { runHermes, tempDir } from "../_helpers.ts";

function seed(home: string, { indexed = true } = {}) {
  Deno.mkdirSync(home, { recursive: true });
  using db = openDatabase(hermesPaths(home).stateDb, STATE_MIGRATIONS);
  const sessions = new SessionStore(db);
  const transcripts = new TranscriptStore(db);
  const wx: SessionSource = { platform: "weixin", chatType: "dm", chatId: "wx1" };
  const wxSession = sessions.open(sessionKey(wx), wx);
  const local: SessionSource = { platform: "local", chatType: "dm", chatId: "local" };
  const localSession = sessions.open(sessionKey(local), local);
  for (
    const [id, platform, text] of [
      [wxSession.id, "weixin", "今天天气很好，我们去公园散步吧"],
      [wxSession.id, "weixin", "Remember the quarterly report"],
      [localSession.id, "local", "the report is late"],
    ] as const
  ) transcripts.append({ sessionId: id, platform, role: "user", text });
  if (indexed) transaction(db, () => new SearchIndex(db).catchUp(100));
}

Deno.test("sessions search finds an English word and 3- and 2-character Chinese substrings", async () => {
  await using dir = tempDir();
  seed(dir.path);
  const search = (...args: string[]) =>
    runHermes(["sessions", "search", ...args], { home: dir.path });

  const english = await search("report", "--platform", "weixin");
  assert.equal(english.code, 0, english.stderr);
  assert.equal(
    english.stdout.trim().replace(/ {2}\S+Z {2}/, "  TIME  "),
    "agent:main:weixin:dm:wx1  TIME  user: Remember the quarterly [report]",
  );
  const both = JSON.parse((await search("report", "--json")).stdout);
  assert.equal(both.length, 2);

  for (const query of ["去公园", "天气"]) {
    const hits = JSON.parse((await search(query, "--json")).stdout);
    assert.equal(hits.length, 1, query);
    assert.ok(hits[0].snippet.includes(`[${query}]`), hits[0].snippet);
    assert.equal(hits[0].session_key, "agent:main:weixin:dm:wx1");
  }
  const none = await search("nothing-like-this");
  assert.equal(none.stdout, "No matches\n");
  const badLimit = await search("report", "--limit", "0");
  assert.equal(badLimit.code, 2);
});

Deno.test("sessions search says when the newest messages are not indexed yet, and finds them once they are", async () => {
  await using dir = tempDir();
  seed(dir.path, { indexed: false }); // as a gateway killed before its indexer ran leaves them
  const before = await runHermes(["sessions", "search", "report"], { home: dir.path });
  assert.equal(before.code, 0, before.stderr);
  assert.equal(before.stdout, "No matches\n");
  assert.match(before.stderr, /the 3 newest message\(s\) \(since \S+\) are not indexed yet/);

  const db = openDatabase(hermesPaths(dir.path).stateDb, STATE_MIGRATIONS);
  transaction(db, () => new SearchIndex(db).catchUp(100));
  db.close();
  const after = await runHermes(["sessions", "search", "report"], { home: dir.path });
  assert.equal(after.stdout.trim().split("\n").length, 2);
  assert.equal(after.stderr, "");
});

Deno.test("sessions list and show; a missing state.db is not created", async () => {
  await using dir = tempDir();
  const empty = await runHermes(["sessions", "list"], { home: dir.path });
  assert.equal(empty.stdout, "No sessions yet\n");
  await assert.rejects(Deno.stat(hermesPaths(dir.path).stateDb), Deno.errors.NotFound);

  seed(dir.path);
  const list = JSON.parse(
    (await runHermes(["sessions", "list", "--json"], { home: dir.path })).stdout,
  );
  assert.deepEqual(list.map((s: { key: string }) => s.key).sort(), [
    "agent:main:local:dm:local",
    "agent:main:weixin:dm:wx1",
  ]);
  const show = await runHermes(["sessions", "show", "agent:main:weixin:dm:wx1"], {
    home: dir.path,
  });
  assert.equal(show.code, 0);
  assert.match(show.stdout, /2 messages/);
  assert.match(show.stdout, /user: 今天天气很好/);
  const missing = await runHermes(["sessions", "show", "agent:main:nope"], { home: dir.path });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot show session "agent:main:nope": no such key/);
});

Deno.test("sessions prune --dry-run lists what a prune removes; sessions prune removes it beside a running gateway's connection", async () => {
  await using dir = tempDir();
  Deno.mkdirSync(dir.path, { recursive: true });
  const { openSqliteStateStore } = await import("../../lib/storage/sqlite/state_store.ts");
  const clock = { now: new Date("2020-01-01T10:00:00Z") };
  // Kept open through the runs, as a running gateway keeps state.db.
  using gateway = openSqliteStateStore(hermesPaths(dir.path).stateDb, { now: () => clock.now });
  let n = 0;
  const exchange = async (user: string, text: string, end: boolean) => {
    const entry = (await gateway.acceptInbound({
      messageId: `m-${n++}`,
      source: { platform: "local", chatType: "dm", chatId: user, userId: user },
      text,
      receivedAt: clock.now.toISOString(),
    }, sessionKey({ platform: "local", chatType: "dm", chatId: user })))!;
    const session = await gateway.beginTurn(entry, { expired: () => undefined, text });
    await gateway.completeTurn(entry, {
      sessionId: session.id,
      reply: { text: `re: ${text}`, kind: "chat" },
      parts: [],
      deadline: clock.now.toISOString(),
      state: "done",
      outcome: "replied",
    });
    if (end) await gateway.endSession(session.id, "idle");
  };
  await exchange("old", "ancient walrus", true);
  await exchange("old2", "ancient heron", true);
  clock.now = new Date();
  await exchange("recent", "recent walrus", true);
  await exchange("open", "open walrus", false);
  await gateway.search("walrus"); // indexed

  const prune = (...args: string[]) =>
    runHermes(["sessions", "prune", ...args], { home: dir.path });
  const dry = await prune("--dry-run");
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^Would remove 2 session\(s\) ended before \S+ \(4 messages\)\n/);
  assert.match(
    dry.stdout,
    /\n {2}agent:main:local:dm:old {2}2 messages .* ended 2020-01-01T10:00:00\.000Z \(idle\)\n/,
  );
  assert.match(dry.stdout, /\n {2}agent:main:local:dm:old2 /);
  assert.doesNotMatch(dry.stdout, /dm:recent|dm:open/);
  assert.match(
    dry.stdout,
    /Would remove 2 finished journal entries, 0 reply parts and 0 ledger rows/,
  );
  const plan = JSON.parse((await prune("--dry-run", "--json")).stdout);
  assert.equal(plan.dryRun, true);
  assert.deepEqual(plan.plan.sessions.sessions.map((s: { key: string }) => s.key), [
    "agent:main:local:dm:old",
    "agent:main:local:dm:old2",
  ]);
  assert.equal(plan.plan.finished.journal, 2);
  const search = async (term: string) =>
    JSON.parse((await runHermes(["sessions", "search", term, "--json"], { home: dir.path })).stdout)
      .map((hit: { text: string }) => hit.text).sort();
  assert.equal((await search("ancient")).length, 4, "a dry run removes nothing");

  const real = await prune();
  assert.equal(real.code, 0, real.stderr);
  assert.equal(
    real.stdout,
    "Removed 2 session(s) (4 messages)\nRemoved 2 finished journal entries, 0 reply parts and 0 ledger rows\n",
  );
  assert.deepEqual(await search("ancient"), []);
  assert.deepEqual(await search("walrus"), [
    "open walrus",
    "re: open walrus",
    "re: recent walrus",
    "recent walrus",
  ]);
  // The gateway's connection goes on writing and finding.
  await exchange("open", "later walrus", false);
  assert.equal((await gateway.search("later")).length, 2);
  const again = JSON.parse((await prune("--json")).stdout);
  assert.deepEqual(again.report.sessions, { sessions: 0, messages: 0 });
});

/**
 * What a read must leave as it was: state.db's bytes and mtime, and the
 * folder's names (but the -wal and -shm files SQLite's WAL mode needs for any
 * reader, which a running gateway has anyway).
 */
function snapshot(home: string) {
  const db = hermesPaths(home).stateDb;
  return {
    names: [...Deno.readDirSync(home)].map((e) => e.name).filter((n) => !/-(wal|shm)$/.test(n))
      .sort(),
    bytes: Deno.readFileSync(db),
    mtime: Deno.statSync(db).mtime?.getTime(),
  };
}

Deno.test("sessions commands, prune too, leave a state.db of another schema version untouched and say which side to upgrade", async (t) => {
  const known = STATE_MIGRATIONS.at(-1)!.version;
  const reads = [
    ["sessions", "list"],
    ["sessions", "list", "--json"],
    ["sessions", "show", "agent:main:weixin:dm:wx1"],
    ["sessions", "search", "report"],
    ["sessions", "prune", "--dry-run"],
    ["sessions", "prune"],
  ];
  const cases = [
    {
      name: "an older database (a running older gateway)",
      migrations: STATE_MIGRATIONS.slice(0, 3),
      says: new RegExp(
        `schema 3, this hermes reads ${known}.*restart the gateway with this version \\(it migrates\\) or use the matching hermes`,
      ),
    },
    {
      name: "a newer database (a gateway of a newer hermes)",
      migrations: [...STATE_MIGRATIONS, {
        version: known + 1,
        name: "from the future",
        sql: "CREATE TABLE future (x INTEGER)",
      }],
      says: new RegExp(`schema ${known + 1}, this hermes reads ${known}.*upgrade hermes`),
    },
  ];
  for (const { name, migrations, says } of cases) {
    await t.step(name, async () => {
      await using dir = tempDir();
      openDatabase(hermesPaths(dir.path).stateDb, migrations).close();
      const before = snapshot(dir.path);
      for (const args of reads) {
        const run = await runHermes(args, { home: dir.path });
        assert.notEqual(run.code, 0, `${args.join(" ")}: ${run.stdout}`);
        assert.equal(run.stdout, "", args.join(" "));
        const lines = run.stderr.trim().split("\n");
        assert.match(lines[0]!, says, args.join(" "));
        assert.ok(!lines[0]!.includes("unexpected"), lines[0]);
      }
      assert.deepEqual(snapshot(dir.path), before, "state.db and its folder are unchanged");
    });
  }
});

Deno.test("sessions prune leaves compacting to a running gateway (VACUUM would hold its writes) and compacts when none runs", async () => {
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  Deno.writeTextFileSync(
    `${dir.path}/config.yaml`,
    "sessions:\n  auto_prune: false\n  vacuum_after_prune: true\n",
  );
  const { openSqliteStateStore } = await import("../../lib/storage/sqlite/state_store.ts");
  const old = new Date("2020-01-01T10:00:00Z");
  // Sessions that ended long ago (the newest of all is always kept).
  const oldSessions = async (...users: string[]) => {
    using store = openSqliteStateStore(paths.stateDb, { now: () => old });
    for (const user of users) {
      const entry = (await store.acceptInbound({
        messageId: `m-${user}`,
        source: { platform: "local", chatType: "dm", chatId: user, userId: user },
        text: "long ago",
        receivedAt: old.toISOString(),
      }, sessionKey({ platform: "local", chatType: "dm", chatId: user })))!;
      const session = await store.beginTurn(entry, { expired: () => undefined, text: "long ago" });
      await store.endSession(session.id, "idle");
    }
  };
  await oldSessions("a", "b");
  const { startGateway } = await import("../gateway/_gateway.ts");
  {
    await using gateway = await startGateway(dir.path);
    const run = await runHermes(["sessions", "prune"], { home: dir.path });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Removed 1 session/);
    assert.match(
      run.stdout,
      new RegExp(`Not compacted: the gateway \\(PID ${gateway.pid}\\) is running`),
    );
    assert.doesNotMatch(run.stdout, /Compacted state\.db/);
  }
  await oldSessions("c");
  const alone = await runHermes(["sessions", "prune"], { home: dir.path });
  assert.equal(alone.code, 0, alone.stderr);
  assert.match(alone.stdout, /Removed 1 session/);
  assert.match(alone.stdout, /Compacted state\.db/);
});
