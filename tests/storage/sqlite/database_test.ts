import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { HermesError } from "../../../lib/errors.ts";
import { openDatabase, schemaVersion } from "../../../lib/storage/sqlite/database.ts";
import { tempDir } from "../../_helpers.ts";

const migrations = [
  { version: 1, name: "notes", sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)" },
  { version: 2, name: "tags", sql: "ALTER TABLE notes ADD COLUMN tag TEXT" },
];

Deno.test("openDatabase() creates state.db 0600 in WAL mode and applies migrations once", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  {
    using db = openDatabase(path, migrations.slice(0, 1));
    db.prepare("INSERT INTO notes (text) VALUES (?)").run("kept");
    assert.equal(schemaVersion(db), 1);
    assert.equal(
      (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
      "wal",
    );
  }
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  using db = openDatabase(path, migrations);
  assert.equal(schemaVersion(db), 2);
  db.prepare("UPDATE notes SET tag = 'x'").run();
  assert.deepEqual({ ...db.prepare("SELECT text, tag FROM notes").get() as object }, {
    text: "kept",
    tag: "x",
  });
});

Deno.test("a failed migration leaves the database as it was and names the step", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  openDatabase(path, migrations.slice(0, 1)).close();
  const broken = [...migrations.slice(0, 1), {
    version: 2,
    name: "broken",
    sql: "ALTER TABLE nope ADD x",
  }];
  assert.throws(
    () => openDatabase(path, broken),
    (e) => e instanceof HermesError && /schema 2 \(broken\): no such table: nope/.test(e.message),
  );
  using db = openDatabase(path, migrations.slice(0, 1));
  assert.equal(schemaVersion(db), 1);
});

Deno.test("a database from a newer hermes is refused with the fix", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.db`;
  openDatabase(path, migrations).close();
  assert.throws(
    () => openDatabase(path, migrations.slice(0, 1)),
    (e) =>
      e instanceof HermesError &&
      /written by a newer hermes \(schema 2.*upgrade hermes/.test(e.message),
  );
});

Deno.test("commits are fsynced fully by default; storage.synchronous normal trades that for speed", async () => {
  await using dir = tempDir();
  const level = (db: DatabaseSync) =>
    Number((db.prepare("PRAGMA synchronous").get() as { synchronous: number }).synchronous);
  using full = openDatabase(`${dir.path}/full.db`, []);
  using normal = openDatabase(`${dir.path}/normal.db`, [], { synchronous: "normal" });
  assert.equal(level(full), 2, "FULL");
  assert.equal(level(normal), 1, "NORMAL");
});
