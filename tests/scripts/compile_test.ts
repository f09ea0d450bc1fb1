import assert from "node:assert/strict";
import { runtimeUnreachable, TARGETS } from "../../scripts/compile.ts";
import { ROOT } from "../_helpers.ts";

// What deno 2.9.6 printed on a machine that cannot reach dl.deno.land.
const DNS_FAILURE = `error: Writing deno compile executable to temporary file 'xx.tmp-2c84'

Caused by:
    0: Setting up base binary.
    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-aarch64-unknown-linux-gnu.zip): client error (Connect): dns error: failed to lookup address information: Name or service not known
    2: client error (Connect)`;

Deno.test("runtimeUnreachable() says in one line why deno compile could not get its runtime", () => {
  const line = runtimeUnreachable(DNS_FAILURE, "aarch64-unknown-linux-gnu");
  assert.ok(line);
  assert.doesNotMatch(line, /\n/);
  assert.match(
    line,
    /^Cannot compile hermes for aarch64-unknown-linux-gnu: .*runtime \(denort\) from dl\.deno\.land \(dns error/,
  );
  assert.match(line, /deno task bundle/);
  assert.equal(runtimeUnreachable("error: TS2322 Type 'string' is not assignable", "x"), undefined);
});

Deno.test("compile.ts fails with one clear line when the runtime download is unreachable", async () => {
  // A proxy on a closed local port makes every download fail fast, network or not.
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/compile.ts`, "--target", TARGETS[1]],
    env: { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9", NO_PROXY: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr).trim();
  assert.equal(result.code, 1);
  assert.equal(stderr.split("\n").length, 1, stderr);
  assert.match(
    stderr,
    /^Cannot compile hermes for aarch64-unknown-linux-gnu: deno compile could not download its runtime/,
  );
});

Deno.test("compile.ts refuses an unknown target with exit 2", async () => {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/compile.ts`, "--target", "sparc-sun-solaris"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(result.code, 2);
  assert.match(
    new TextDecoder().decode(result.stderr),
    /unknown target; use one of x86_64-unknown-linux-gnu/,
  );
});
