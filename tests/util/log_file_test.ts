import assert from "node:assert/strict";
import { Logger } from "../../lib/util/log.ts";
import { rotatingFileSink } from "../../lib/util/log_file.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("rotatingFileSink rotates by size and keeps at most max_files old files", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/logs/gateway.log`;
  {
    using sink = rotatingFileSink(path, { maxBytes: 1000, maxFiles: 2 });
    const log = new Logger({ level: "info", sinks: [sink], masker: new SecretMasker() });
    for (let i = 0; i < 40; i++) log.info(`message number ${i}`, { padding: "x".repeat(60) });
  }
  const names = [...Deno.readDirSync(`${dir.path}/logs`)].map((e) => e.name).sort();
  assert.deepEqual(names, ["gateway.log", "gateway.log.1", "gateway.log.2"]);
  for (const name of names) {
    const info = await Deno.stat(`${dir.path}/logs/${name}`);
    assert.ok(info.size <= 1000, `${name} is ${info.size} bytes`);
    assert.equal(info.mode! & 0o777, 0o600);
  }
  const newest = (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(newest.at(-1).msg, "message number 39");
  const older = (await Deno.readTextFile(`${path}.1`)).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(older.at(-1).msg, `message number ${39 - newest.length}`);
});

Deno.test("rotatingFileSink appends to an existing log and masks secrets", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.log`;
  await Deno.writeTextFile(path, '{"msg":"earlier"}\n');
  {
    using sink = rotatingFileSink(path, { maxBytes: 1 << 20, maxFiles: 1 });
    new Logger({ level: "info", sinks: [sink], masker: new SecretMasker(["s3cr3t-value"]) })
      .info("using s3cr3t-value");
  }
  const lines = (await Deno.readTextFile(path)).trim().split("\n");
  assert.equal(lines.length, 2);
  assert.equal(JSON.parse(lines[1]!).msg, "using ***");
});
