import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { GroupCommit } from "../../../lib/storage/sqlite/group_commit.ts";
import { tempDir } from "../../_helpers.ts";

function open(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("CREATE TABLE IF NOT EXISTS notes (text TEXT NOT NULL UNIQUE)");
  return db;
}

Deno.test("units asked for together share one commit, and each resolves only once it is on disk", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  const db = open(path);
  const reader = open(path);
  const commits = new GroupCommit(db);
  const insert = (text: string) => () =>
    db.prepare("INSERT INTO notes (text) VALUES (?)").run(text);
  const seenAtResolve: number[] = [];
  const count = () =>
    Number((reader.prepare("SELECT count(*) AS n FROM notes").get() as { n: number }).n);
  await Promise.all(
    ["a", "b", "c"].map((text) =>
      commits.run(insert(text)).then(() => void seenAtResolve.push(count()))
    ),
  );
  assert.equal(commits.commits, 1, "three units, one transaction");
  assert.deepEqual(
    seenAtResolve,
    [3, 3, 3],
    "another connection sees all three when each resolves",
  );
  db.close();
  reader.close();
});

Deno.test("a unit that fails is rolled back alone and rejects alone; its neighbours commit", async () => {
  await using dir = tempDir();
  const db = open(`${dir.path}/state.db`);
  const commits = new GroupCommit(db);
  const insert = (text: string) => () =>
    db.prepare("INSERT INTO notes (text) VALUES (?)").run(text);
  const results = await Promise.allSettled([
    commits.run(insert("kept")),
    commits.run(() => {
      insert("half")();
      insert("kept")(); // UNIQUE: the whole unit fails
    }),
    commits.run(insert("also kept")),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  const texts = db.prepare("SELECT text FROM notes ORDER BY rowid").all().map((r) => r.text);
  assert.deepEqual(texts, ["kept", "also kept"], "nothing of the failed unit is left");
  db.close();
});

Deno.test("units asked for later get a transaction of their own; flush() commits what is queued now", async () => {
  await using dir = tempDir();
  const db = open(`${dir.path}/state.db`);
  const commits = new GroupCommit(db);
  await commits.run(() => db.exec("INSERT INTO notes (text) VALUES ('one')"));
  await commits.run(() => db.exec("INSERT INTO notes (text) VALUES ('two')"));
  assert.equal(commits.commits, 2);
  const pending = commits.run(() => db.exec("INSERT INTO notes (text) VALUES ('three')"));
  commits.flush(); // a close does this
  await pending;
  assert.equal(commits.commits, 3);
  db.close();
});
