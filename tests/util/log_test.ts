import assert from "node:assert/strict";
import { lineSink, type LogFormat, Logger, renderHuman } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";

const SECRET = "7012345678:AAE-very-secret";
const fixedClock = () => new Date("2026-11-21T06:18:28.123Z");

function capture(format: LogFormat, level: "debug" | "info" = "info") {
  const lines: string[] = [];
  const log = new Logger({
    level,
    sinks: [lineSink(format, (line) => lines.push(line))],
    masker: new SecretMasker([SECRET]),
    now: fixedClock,
  });
  return { log, lines };
}

Deno.test("Logger writes JSON lines with fields and drops records below its level", () => {
  const { log, lines } = capture("json");
  log.debug("hidden");
  log.child({ platform: "wecom" }).warn("Reconnecting", { attempt: 3 });
  assert.deepEqual(lines.map((l) => JSON.parse(l)), [
    {
      ts: "2026-11-21T06:18:28.123Z",
      level: "warn",
      msg: "Reconnecting",
      platform: "wecom",
      attempt: 3,
    },
  ]);
  assert.ok(lines[0]!.endsWith("\n"));
});

Deno.test("Logger writes human lines a person can scan", () => {
  const { log, lines } = capture("human");
  log.info("Gateway running", { pid: 42, home: "/srv/my hermes" });
  assert.equal(lines[0], '06:18:28.123 INFO  Gateway running pid=42 home="/srv/my hermes"\n');
});

Deno.test("on a terminal only the level label is coloured, and the colour is reset after it", () => {
  const record = {
    ts: "2026-11-21T06:18:28.123Z",
    level: "warn",
    msg: "Slow",
    fields: {},
  } as const;
  assert.equal(renderHuman(record, true), "06:18:28.123 \x1b[33mWARN \x1b[39m Slow");
  assert.equal(renderHuman({ ...record, level: "error" }, false), "06:18:28.123 ERROR Slow");
});

Deno.test("Logger masks secrets in messages, fields and error stacks, in both formats", () => {
  for (const format of ["human", "json"] as const) {
    const { log, lines } = capture(format, "debug");
    log.info(`token is ${SECRET}`);
    log.warn("Login failed", { token: SECRET, nested: { url: `https://x/bot${SECRET}/getMe` } });
    log.error("Crashed", { error: new Error(`bad token ${SECRET}`) });
    assert.equal(lines.length, 3);
    for (const line of lines) {
      assert.ok(!line.includes(SECRET), `${format} line leaked the secret: ${line}`);
      assert.ok(line.includes("***"));
    }
  }
});

Deno.test("Logger.setLevel() changes what children write too", () => {
  const { log, lines } = capture("json");
  const child = log.child({ platform: "local" });
  child.debug("before");
  log.setLevel("debug");
  child.debug("after");
  assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ["after"]);
});
