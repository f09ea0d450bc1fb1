import assert from "node:assert/strict";
import { writeFileAtomic, writeJsonAtomic } from "../../lib/util/atomic_file.ts";
import { ROOT, tempDir } from "../_helpers.ts";

Deno.test("writeFileAtomic() replaces the file and leaves no temporary file", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.json`;
  await writeFileAtomic(path, "old");
  await writeFileAtomic(path, new TextEncoder().encode("new"));
  assert.equal(await Deno.readTextFile(path), "new");
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name), ["state.json"]);
});

Deno.test("writeFileAtomic() sets the mode exactly, whatever the umask", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/secret.json`;
  await writeFileAtomic(path, "{}", { mode: 0o600 });
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  await writeJsonAtomic(`${dir.path}/private.json`, { a: 1 });
  assert.equal((await Deno.stat(`${dir.path}/private.json`)).mode! & 0o777, 0o600, "the default");
  assert.equal(await Deno.readTextFile(`${dir.path}/private.json`), '{\n  "a": 1\n}\n');
  await writeFileAtomic(`${dir.path}/public.txt`, "x", { mode: 0o644 });
  assert.equal((await Deno.stat(`${dir.path}/public.txt`)).mode! & 0o777, 0o644);
});

Deno.test("writeFileAtomic() fails cleanly into a missing folder and keeps nothing half-made", async () => {
  await using dir = tempDir();
  await assert.rejects(writeFileAtomic(`${dir.path}/missing/x.json`, "{}"), Deno.errors.NotFound);
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
});

Deno.test("kill -9 during atomic writes leaves the old or the new file, never a torn one", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/state.txt`;
  const initial = "initial\n";
  await Deno.writeTextFile(path, initial);
  const size = 1 << 20;
  const valid = new Set([initial, ...["A", "B"].map((l) => `${l}:${l.repeat(size)}\n`)]);
  const seen = new Set<string>();
  for (let round = 0; round < 25; round++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}tests/util/_atomic_writer.ts`, path],
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Let it start up (~40 ms), then kill it at a varying point of a write.
    await new Promise((resolve) => setTimeout(resolve, 60 + (round * 7) % 90));
    child.kill("SIGKILL");
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");
    const content = await Deno.readTextFile(path);
    assert.ok(valid.has(content), `round ${round}: torn file of ${content.length} bytes`);
    seen.add(content.slice(0, 2));
  }
  // The writer must have replaced the file at least once, or the test proved nothing.
  assert.ok(seen.has("A:") || seen.has("B:"), "the writer never completed a write");
});
