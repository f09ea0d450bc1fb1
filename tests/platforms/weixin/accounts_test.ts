import assert from "node:assert/strict";
import { ConfigError } from "../../../lib/errors.ts";
import {
  accountFile,
  listAccounts,
  readAccount,
  readContextTokens,
  readCursor,
  removeAccount,
  saveAccount,
  saveContextTokens,
  saveCursor,
} from "../../../lib/platforms/weixin/accounts.ts";
import { ROOT, tempDir } from "../../_helpers.ts";

const ID = "b0f5@im.bot";
const modeOf = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

Deno.test("saveAccount() writes the login 0600 with saved_at as YYYY-MM-DDTHH:MM:SSZ, and readAccount() reads it", async () => {
  await using dir = tempDir();
  const before = Date.now();
  const path = await saveAccount(dir.path, ID, {
    token: "tok-1",
    base_url: "https://ilinkai.weixin.qq.com",
    user_id: "u-1@im.wechat",
  });
  assert.equal(path, `${dir.path}/accounts/${ID}.json`);
  assert.equal(await modeOf(path), 0o600);
  const onDisk = JSON.parse(await Deno.readTextFile(path));
  assert.deepEqual(Object.keys(onDisk).sort(), ["base_url", "saved_at", "token", "user_id"]);
  assert.match(onDisk.saved_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  const savedAt = Date.parse(onDisk.saved_at);
  assert.ok(savedAt >= Math.floor(before / 1000) * 1000 && savedAt <= Date.now(), onDisk.saved_at);
  assert.deepEqual(await readAccount(dir.path, ID), {
    token: "tok-1",
    base_url: "https://ilinkai.weixin.qq.com",
    user_id: "u-1@im.wechat",
    saved_at: onDisk.saved_at,
  });
});

Deno.test("saveAccount() over an old login replaces it and keeps it 0600", async () => {
  await using dir = tempDir();
  const path = await saveAccount(dir.path, ID, { token: "old", base_url: "b" });
  await Deno.chmod(path, 0o644);
  await saveAccount(dir.path, ID, { token: "new", base_url: "b" });
  assert.equal((await readAccount(dir.path, ID))?.token, "new");
  assert.equal(await modeOf(path), 0o600);
});

Deno.test("readAccount() answers undefined when there is no login", async () => {
  await using dir = tempDir();
  assert.equal(await readAccount(dir.path, ID), undefined);
});

Deno.test("a login that cannot be written leaves the old file as it was", async () => {
  await using dir = tempDir();
  const path = await saveAccount(dir.path, ID, { token: "old-token", base_url: "b" });
  const old = await Deno.readTextFile(path);
  // A child process whose files may not grow past 8 KiB (RLIMIT_FSIZE, which root cannot
  // write past either) saves a login of 20,000 characters: the write fails part way.
  const script = `${dir.path}/save.ts`;
  await Deno.writeTextFile(
    script,
    `import { saveAccount } from ${JSON.stringify(`${ROOT}lib/platforms/weixin/accounts.ts`)};
if (Deno.args[0] === "save") {
  await saveAccount(${JSON.stringify(dir.path)}, ${
      JSON.stringify(ID)
    }, { token: "n".repeat(20000), base_url: "b" });
}
console.log("saved");
`,
  );
  const run = (limit: string, mode: string) =>
    new Deno.Command("sh", {
      args: [
        "-c",
        `trap '' XFSZ; ulimit -f ${limit}; exec "$0" run -A "$1" "$2"`,
        Deno.execPath(),
        script,
        mode,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const warm = await run("unlimited", "warm"); // compiles and caches the script first
  assert.equal(warm.code, 0, new TextDecoder().decode(warm.stderr));
  const failed = await run("8", "save");
  const stderr = new TextDecoder().decode(failed.stderr);
  assert.notEqual(failed.code, 0, "the write failed");
  assert.match(stderr, /File too large/);
  assert.equal(await Deno.readTextFile(path), old, "the old login is intact");
  assert.equal((await readAccount(dir.path, ID))?.token, "old-token");
  const left = [];
  for await (const entry of Deno.readDir(`${dir.path}/accounts`)) left.push(entry.name);
  assert.deepEqual(left, [`${ID}.json`], "no temporary file is left behind");
});

Deno.test("readAccount() of a login without a token says to run hermes weixin login", async () => {
  await using dir = tempDir();
  await Deno.mkdir(`${dir.path}/accounts`, { recursive: true });
  const path = `${dir.path}/accounts/${ID}.json`;
  for (const content of ['{"base_url":"b"}', '{"token":"","base_url":"b"}', '{"token":5}']) {
    await Deno.writeTextFile(path, content);
    const error = await readAccount(dir.path, ID).catch((e) => e);
    assert.ok(error instanceof ConfigError, `${content}: ${error}`);
    assert.match(error.message, /`hermes weixin login`/);
    assert.ok(error.message.includes(path), error.message);
  }
});

Deno.test("readAccount() of a file that is not JSON names the file", async () => {
  await using dir = tempDir();
  await Deno.mkdir(`${dir.path}/accounts`, { recursive: true });
  const path = `${dir.path}/accounts/${ID}.json`;
  for (const content of ['{"token":', "", "[1,2]", "null", '"tok"']) {
    await Deno.writeTextFile(path, content);
    const error = await readAccount(dir.path, ID).catch((e) => e);
    assert.ok(error instanceof ConfigError, `${JSON.stringify(content)}: ${error}`);
    assert.ok(error.message.includes(path), error.message);
  }
});

Deno.test("accountFile() names the three files of an account", () => {
  assert.equal(accountFile("/s", ID), `/s/accounts/${ID}.json`);
  assert.equal(accountFile("/s", ID, "sync"), `/s/accounts/${ID}.sync.json`);
  assert.equal(accountFile("/s", ID, "context-tokens"), `/s/accounts/${ID}.context-tokens.json`);
  assert.equal(accountFile("/s", "a_b-c.d"), "/s/accounts/a_b-c.d.json");
});

Deno.test("accountFile() refuses an id that could leave the accounts folder or hide a file", () => {
  for (const id of ["a/b", "../x", "..", "x/../../y", ".hidden", ".", "", "a\\b", "a b", "a\0b"]) {
    assert.throws(() => accountFile("/s", id), ConfigError, JSON.stringify(id));
  }
  assert.throws(() => accountFile("/s", "../etc"), /Cannot use the Weixin account id "..\/etc"/);
});

Deno.test("removeAccount() removes the login, cursor and tokens, and answers false when there are none", async () => {
  await using dir = tempDir();
  await saveAccount(dir.path, ID, { token: "t", base_url: "b" });
  await saveCursor(dir.path, ID, "cursor-1");
  await saveContextTokens(dir.path, ID, new Map([["u-1@im.wechat", "ctx"]]));
  await saveAccount(dir.path, "other@im.bot", { token: "t2", base_url: "b" });
  assert.equal(await removeAccount(dir.path, ID), true);
  for (const kind of ["account", "sync", "context-tokens"] as const) {
    await assert.rejects(Deno.stat(accountFile(dir.path, ID, kind)), Deno.errors.NotFound, kind);
  }
  assert.equal(await readAccount(dir.path, ID), undefined);
  assert.equal((await readAccount(dir.path, "other@im.bot"))?.token, "t2", "others are kept");
  assert.equal(await removeAccount(dir.path, ID), false);
  assert.equal(await removeAccount(`${dir.path}/nowhere`, ID), false);
});

Deno.test("removeAccount() removes a cursor left without its login", async () => {
  await using dir = tempDir();
  await saveCursor(dir.path, ID, "c");
  assert.equal(await removeAccount(dir.path, ID), true);
  assert.equal(await readCursor(dir.path, ID), undefined);
});

Deno.test("listAccounts() lists only the logins, sorted", async () => {
  await using dir = tempDir();
  await saveAccount(dir.path, "z@im.bot", { token: "t", base_url: "b" });
  await saveAccount(dir.path, "a@im.bot", { token: "t", base_url: "b" });
  await saveCursor(dir.path, "a@im.bot", "c");
  await saveContextTokens(dir.path, "a@im.bot", new Map([["p", "t"]]));
  await saveCursor(dir.path, "orphan@im.bot", "c");
  const accounts = `${dir.path}/accounts`;
  await Deno.writeTextFile(`${accounts}/notes.txt`, "x");
  await Deno.writeTextFile(`${accounts}/.z@im.bot.json.123.abcd1234.tmp`, "{");
  await Deno.mkdir(`${accounts}/folder.json`);
  assert.deepEqual(await listAccounts(dir.path), ["a@im.bot", "z@im.bot"]);
});

Deno.test("listAccounts() of a home with no accounts folder is empty", async () => {
  await using dir = tempDir();
  assert.deepEqual(await listAccounts(dir.path), []);
});

Deno.test("saveCursor() and readCursor() round-trip the poll cursor, 0600", async () => {
  await using dir = tempDir();
  assert.equal(await readCursor(dir.path, ID), undefined);
  await saveCursor(dir.path, ID, "eyJzZXEiOjN9");
  const path = accountFile(dir.path, ID, "sync");
  assert.equal(await modeOf(path), 0o600);
  assert.equal(JSON.parse(await Deno.readTextFile(path)).get_updates_buf, "eyJzZXEiOjN9");
  const saved = await readCursor(dir.path, ID);
  assert.equal(saved?.cursor, "eyJzZXEiOjN9");
  assert.ok(saved?.savedAt && Math.abs(Date.parse(saved.savedAt) - Date.now()) < 60_000);
  await saveCursor(dir.path, ID, "next");
  assert.equal((await readCursor(dir.path, ID))?.cursor, "next");
});

Deno.test("readCursor() reads a cursor file another tool wrote", async () => {
  await using dir = tempDir();
  await Deno.mkdir(`${dir.path}/accounts`, { recursive: true });
  await Deno.writeTextFile(accountFile(dir.path, ID, "sync"), '{"get_updates_buf":"abc"}');
  assert.deepEqual(await readCursor(dir.path, ID), { cursor: "abc" });
});

Deno.test("saveContextTokens() and readContextTokens() round-trip each peer's token, 0600", async () => {
  await using dir = tempDir();
  assert.deepEqual(await readContextTokens(dir.path, ID), new Map());
  const tokens = new Map([["u-1@im.wechat", "ctx-1"], ["u-2@im.wechat", "ctx-2"]]);
  await saveContextTokens(dir.path, ID, tokens);
  const path = accountFile(dir.path, ID, "context-tokens");
  assert.equal(await modeOf(path), 0o600);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), {
    "u-1@im.wechat": "ctx-1",
    "u-2@im.wechat": "ctx-2",
  });
  assert.deepEqual(await readContextTokens(dir.path, ID), tokens);
  await saveContextTokens(dir.path, ID, new Map([["u-1@im.wechat", "ctx-3"]]));
  assert.deepEqual(await readContextTokens(dir.path, ID), new Map([["u-1@im.wechat", "ctx-3"]]));
});

Deno.test("readContextTokens() leaves out entries that are not tokens", async () => {
  await using dir = tempDir();
  await Deno.mkdir(`${dir.path}/accounts`, { recursive: true });
  await Deno.writeTextFile(
    accountFile(dir.path, ID, "context-tokens"),
    '{"a":"t","b":"","c":5,"d":null}',
  );
  assert.deepEqual(await readContextTokens(dir.path, ID), new Map([["a", "t"]]));
});
