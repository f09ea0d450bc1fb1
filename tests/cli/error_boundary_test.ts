import assert from "node:assert/strict";
import { reportError } from "../../cli/error_boundary.ts";
import type { CliIo } from "../../cli/io.ts";
import { ConfigError, UsageError } from "../../lib/errors.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";

function fakeIo(): CliIo & { errText: () => string } {
  const chunks: string[] = [];
  const masker = new SecretMasker(["sk-live-secret-123"]);
  return {
    out: () => {},
    err: (text) => chunks.push(masker.mask(text)),
    env: {},
    masker,
    stderrIsTerminal: false,
    readStdin: () => Promise.resolve(""),
    exitCode: 0,
    errText: () => chunks.join(""),
  };
}

function report(error: unknown, debug: boolean) {
  const io = fakeIo();
  const code = reportError(error, { io, debug });
  return { code, stderr: io.errText() };
}

Deno.test("an unexpected error prints one line and a hint, exit 1; the stack only with --debug", () => {
  const quiet = report(new TypeError("Cannot read properties of undefined\n  more detail"), false);
  assert.equal(quiet.code, 1);
  assert.equal(
    quiet.stderr,
    "hermes: unexpected error: Cannot read properties of undefined\nhint: run again with --debug to see the stack trace\n",
  );
  const loud = report(new TypeError("boom"), true);
  assert.equal(loud.code, 1);
  assert.match(loud.stderr, /^hermes: unexpected error: boom\nTypeError: boom\n\s+at /);
});

Deno.test("usage and config errors map to exit codes 2 and 78", () => {
  const usage = report(
    new UsageError("Cannot pair: no code given", "hermes pair approve CODE"),
    false,
  );
  assert.deepEqual(usage, {
    code: 2,
    stderr: "hermes: Cannot pair: no code given\nhint: hermes pair approve CODE\n",
  });
  const config = report(new ConfigError('Cannot load config "/h/config.yaml": x: bad'), false);
  assert.deepEqual(config, {
    code: 78,
    stderr: 'hermes: Cannot load config "/h/config.yaml": x: bad\n',
  });
});

Deno.test("error output masks known secrets", () => {
  const { stderr } = report(
    new Error("request to https://api/x?key=sk-live-secret-123 failed"),
    false,
  );
  assert.ok(!stderr.includes("sk-live-secret-123"));
  assert.match(stderr, /key=\*\*\*/);
});
