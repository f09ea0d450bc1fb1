import assert from "node:assert/strict";
import { runHermes, tempDir } from "../_helpers.ts";

/** The first column of each line `hermes complete -- WORDS` prints: the candidates. */
async function candidates(home: string, words: string[]): Promise<string[]> {
  const result = await runHermes(["complete", "--", ...words], { home });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter((l) => l && !l.startsWith(":")).map((l) =>
    l.split("\t")[0]!
  );
}

Deno.test("live completion offers each group's subcommands, and never the hidden complete", async () => {
  await using home = tempDir();
  const top = await candidates(home.path, [""]);
  for (const name of ["gateway", "pair", "sessions", "send", "config", "completion"]) {
    assert.ok(top.includes(name), `${name} missing from ${top}`);
  }
  assert.ok(!top.includes("complete"), top.join(" "));
  const gateway = await candidates(home.path, ["gateway", ""]);
  assert.deepEqual(
    ["install", "restart", "run", "status", "stop", "uninstall"].filter((n) => gateway.includes(n)),
    ["install", "restart", "run", "status", "stop", "uninstall"],
  );
});

Deno.test("live completion offers an option's and an argument's fixed choices", async () => {
  await using home = tempDir();
  assert.deepEqual(
    (await candidates(home.path, ["--log-format", ""])).sort(),
    ["human", "json"],
  );
  assert.deepEqual(
    (await candidates(home.path, ["completion", ""])).sort(),
    ["bash", "fish", "powershell", "zsh"],
  );
  const flags = await candidates(home.path, ["pair", "list", "--"]);
  assert.ok(flags.includes("--json"), flags.join(" "));
});

Deno.test("hermes completion --help shows its usage and the shells it takes", async () => {
  await using home = tempDir();
  const result = await runHermes(["completion", "--help"], { home: home.path });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Usage: hermes completion \[options\] <shell>\n/);
});
