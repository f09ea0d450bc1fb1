import assert from "node:assert/strict";
import { loadCompletion } from "../../cli/completion.ts";
import type { CliIo } from "../../cli/io.ts";
import { buildProgram } from "../../cli/main.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";

function quietIo(): CliIo {
  return {
    out: () => {},
    err: () => {},
    env: {},
    masker: new SecretMasker(),
    stderrIsTerminal: false,
    readStdin: () => Promise.resolve(""),
    exitCode: 0,
  };
}

Deno.test("loadCompletion() loads tab only when argv names completion or complete", async () => {
  assert.equal(await loadCompletion(["--help"]), undefined);
  assert.equal(await loadCompletion(["gateway", "status"]), undefined);
  assert.equal(typeof await loadCompletion(["completion", "bash"]), "function");
  assert.equal(typeof await loadCompletion(["-v", "complete", "--", "config", ""]), "function");
});

Deno.test("the completion stand-in reads in help exactly as tab's completion command", async () => {
  const standIn = buildProgram(quietIo());
  const real = buildProgram(quietIo(), await loadCompletion(["completion"]));
  assert.equal(standIn.helpInformation(), real.helpInformation());
  const completion = (program: typeof real) =>
    program.commands.find((c) => c.name() === "completion")!.helpInformation();
  assert.equal(completion(standIn), completion(real));
  assert.match(completion(standIn), /^Usage: hermes completion \[options\] <shell>\n/);
});
