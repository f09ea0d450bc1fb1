import assert from "node:assert/strict";
import {
  acquireCredentialLock,
  credentialLockDir,
  credentialLockName,
  describeHolder,
  releaseAllCredentialLocks,
  releaseCredentialLock,
} from "../../lib/process/credential_lock.ts";
import { currentPidRecord, parsePidRecord } from "../../lib/process/pid_record.ts";
import { ROOT, spawnUntilFirstLine, tempDir } from "../_helpers.ts";

function spawnHolder(dir: string, identity: string, home: string) {
  const holder = `${ROOT}tests/process/hermes-credential-holder.ts`;
  return spawnUntilFirstLine([holder, "gateway", "run", dir, "telegram-bot-token", identity, home]);
}

Deno.test("credential lock files are named by scope and a hash of the identity", async () => {
  assert.equal(
    await credentialLockName("telegram-bot-token", "secret"),
    "telegram-bot-token-2bb80d537b1da3e3.lock",
  );
  assert.equal(credentialLockDir({ HERMES_GATEWAY_LOCK_DIR: "/locks", HOME: "/h" }), "/locks");
  assert.equal(
    credentialLockDir({ XDG_STATE_HOME: "/state", HOME: "/h" }),
    "/state/hermes/gateway-locks",
  );
  assert.equal(credentialLockDir({ HOME: "/h" }), "/h/.local/state/hermes/gateway-locks");
});

Deno.test("a second gateway's claim on the same credential fails naming the first gateway's PID and home", async () => {
  await using dir = tempDir();
  const first = await spawnHolder(dir.path, "123:token", "/srv/home-a");
  try {
    assert.equal(first.said, "claimed");
    const claim = await acquireCredentialLock(dir.path, "telegram-bot-token", "123:token", {
      home: "/srv/home-b",
    });
    assert.equal(claim.ok, false);
    if (claim.ok) return;
    assert.equal(claim.holder.pid, first.child.pid);
    assert.equal(
      describeHolder("telegram", claim.holder),
      `Cannot connect telegram: its credential is in use by the gateway PID ${first.child.pid} (home /srv/home-a); stop that gateway or give this one another credential`,
    );
    const other = await acquireCredentialLock(dir.path, "telegram-bot-token", "456:other", {
      home: "/srv/home-b",
    });
    assert.ok(other.ok, "another credential is free");
    const text = await Deno.readTextFile(other.path);
    assert.ok(!text.includes("456:other"), "the identity itself is never stored");
  } finally {
    first.child.kill("SIGKILL");
    await first.child.status;
  }
  const after = await acquireCredentialLock(dir.path, "telegram-bot-token", "123:token", {
    home: "/srv/home-b",
  });
  assert.ok(after.ok, "the lock of a killed gateway is stale and taken over");
});

Deno.test("stale, corrupt and own locks are claimed; release removes only ours", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/${await credentialLockName("wecom-bot", "bot-1")}`;
  const me = currentPidRecord("/h");
  const cases: Array<[string, string]> = [
    ["corrupt", "{not json"],
    ["empty", ""],
    ["dead PID", JSON.stringify({ ...me, pid: 2 ** 22 + 999 })],
    ["reused PID (other start time)", JSON.stringify({ ...me, pid: 1, start_time: -5 })],
    ["live process that is no gateway", JSON.stringify({ ...me, pid: 1, start_time: null })],
    ["our own", JSON.stringify(me)],
  ];
  for (const [name, content] of cases) {
    await Deno.writeTextFile(path, content);
    const claim = await acquireCredentialLock(dir.path, "wecom-bot", "bot-1", { home: "/h" });
    assert.ok(claim.ok, name);
  }
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), [path.split("/").pop()]);
  await releaseCredentialLock(dir.path, "wecom-bot", "bot-1");
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
});

Deno.test("releaseAllCredentialLocks() removes the owner's locks only", async () => {
  await using dir = tempDir();
  await acquireCredentialLock(dir.path, "a", "1", { home: "/h" });
  await acquireCredentialLock(dir.path, "b", "2", { home: "/h" });
  const foreign = `${dir.path}/${await credentialLockName("c", "3")}`;
  await Deno.writeTextFile(foreign, JSON.stringify({ ...currentPidRecord("/x"), pid: 1 }));
  const me = currentPidRecord("/h");
  assert.equal(
    await releaseAllCredentialLocks(dir.path, { pid: me.pid, startTime: (me.start_time ?? 0) + 1 }),
    0,
  );
  assert.equal(
    await releaseAllCredentialLocks(dir.path, { pid: me.pid, startTime: me.start_time }),
    2,
  );
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), [foreign.split("/").pop()]);
});

Deno.test("a reader racing concurrent claims never sees a half-written lock, and no live lock is removed", async () => {
  await using dir = tempDir();
  const contender = `${ROOT}tests/process/hermes-lock-contender.ts`;
  const path = `${dir.path}/${await credentialLockName("wecom-bot", "bot-race")}`;
  const spawn = () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", contender, "gateway", "run", dir.path, "wecom-bot", "bot-race", "1500"],
      stdout: "piped",
      stderr: "inherit",
    }).output();
  let running = true;
  const outputs = Promise.all([spawn(), spawn()]).finally(() => running = false);
  let seen = 0;
  let halfWritten = 0;
  while (running) {
    for (let i = 0; i < 200; i++) {
      let text: string;
      try {
        text = Deno.readTextFileSync(path);
      } catch {
        continue; // free between two claims
      }
      seen++;
      if (!parsePidRecord(text)) halfWritten++;
    }
    // Yield so that the children's exit can be noticed.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const results = (await outputs).map((output) => {
    assert.equal(output.code, 0);
    return JSON.parse(new TextDecoder().decode(output.stdout)) as { claims: number; lost: number };
  });
  assert.ok(seen > 0, "the reader saw the lock at least once");
  assert.ok(results.every((r) => r.claims > 0), "both contenders claimed the lock");
  assert.equal(halfWritten, 0, `the reader saw ${halfWritten} empty or partial lock files`);
  assert.deepEqual(
    results.map((r) => r.lost),
    [0, 0],
    "no claimed lock was removed under its holder",
  );
});

Deno.test("a claim removes the temporary lock records a killed claimer left, never a live claimer's", async () => {
  await using dir = tempDir();
  const name = await credentialLockName("telegram-bot-token", "123:token");
  // A PID no process has (past the kernel's pid_max), and this live process.
  const dead = `${dir.path}/${name}.4194305.0a1b2c3d.tmp`;
  const live = `${dir.path}/${name}.${Deno.pid}.0a1b2c3d.tmp`;
  const other = `${dir.path}/other-bot.lock.4194305.0a1b2c3d.tmp`;
  for (const path of [dead, live, other]) await Deno.writeTextFile(path, "");
  const claim = await acquireCredentialLock(dir.path, "telegram-bot-token", "123:token", {
    home: "/srv/home-a",
  });
  assert.ok(claim.ok);
  const names = [...Deno.readDirSync(dir.path)].map((e) => e.name).sort();
  assert.deepEqual(
    names,
    [name, `${name}.${Deno.pid}.0a1b2c3d.tmp`, "other-bot.lock.4194305.0a1b2c3d.tmp"].sort(),
  );
  await releaseCredentialLock(dir.path, "telegram-bot-token", "123:token");
});
