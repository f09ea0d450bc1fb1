import assert from "node:assert/strict";
import { CliCommand, InvalidValue } from "../../cli/command.ts";
import { parseCommandLine } from "../../cli/command_line.ts";
import { helpText } from "../../cli/help.ts";
import { UsageError } from "../../lib/errors.ts";

/** A small tree shaped like hermes': global flags, a group with a default, a leaf with arguments. */
function tree() {
  const program = new CliCommand("tool");
  program.option("-v, --verbose", "more").option("--log-format <format>", "format", [
    "human",
    "json",
  ]);
  const service = program.command("service").description("the service");
  service.command("run", { isDefault: true }).description("run it").option(
    "--replace",
    "take over",
  );
  service.command("stop").description("stop it").option("--timeout <seconds>", "wait", (word) => {
    const n = Number(word);
    if (!(n > 0)) throw new InvalidValue(`expected seconds, got "${word}"`);
    return n;
  });
  program.command("send").description("send")
    .argument("<target>", "where")
    .argument("[text]", "what")
    .option("--json", "print JSON");
  program.command("search").argument("<terms...>", "words").option("--limit <n>", "how many");
  program.command("secret", { hidden: true });
  return program;
}

function run(argv: string[]) {
  const line = parseCommandLine(tree(), argv);
  assert.equal(line.kind, "run");
  return line as Extract<typeof line, { kind: "run" }>;
}

function refused(argv: string[]): UsageError {
  try {
    parseCommandLine(tree(), argv);
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    return error;
  }
  throw new Error(`${argv.join(" ")} was accepted`);
}

Deno.test("global options count anywhere on the line; a command's own options after it", () => {
  const line = run(["send", "-v", "local:alice", "hi", "--log-format=json", "--json"]);
  assert.equal(line.command.path, "tool send");
  assert.deepEqual(line.args, ["local:alice", "hi"]);
  assert.deepEqual(line.options, { json: true });
  assert.deepEqual(line.globals, { json: true, verbose: true, logFormat: "json" });
});

Deno.test("a group named alone runs its default, which also takes the options it declares", () => {
  assert.equal(run(["service"]).command.path, "tool service run");
  const replace = run(["service", "--replace"]);
  assert.equal(replace.command.path, "tool service run");
  assert.deepEqual(replace.options, { replace: true });
  assert.equal(run(["service", "stop", "--timeout", "2.5"]).options.timeout, 2.5);
});

Deno.test("words after -- are arguments even when they look like options; - is an argument", () => {
  assert.deepEqual(run(["send", "--", "--json", "-v"]).args, ["--json", "-v"]);
  assert.deepEqual(run(["send", "local:a", "-"]).args, ["local:a", "-"]);
  assert.deepEqual(run(["search", "a", "b", "--limit", "3"]).args, [["a", "b"]]);
  assert.deepEqual(run(["send", "local:a"]).args, ["local:a", undefined]);
});

Deno.test("help and version are answers, not runs; a group without a default shows its help as a mistake", () => {
  assert.deepEqual(parseCommandLine(tree(), ["service", "stop", "-h"]).kind, "help");
  const asked = parseCommandLine(tree(), ["help", "service", "stop"]);
  assert.ok(asked.kind === "help" && asked.asked && asked.command.path === "tool service stop");
  assert.equal(parseCommandLine(tree(), ["--version"]).kind, "version");
  const bare = parseCommandLine(tree(), []);
  assert.ok(bare.kind === "help" && !bare.asked);
});

Deno.test("each mistake names itself and the help to read, with the nearest guess", async (t) => {
  const cases: Array<[string[], RegExp, RegExp]> = [
    [["sned"], /^unknown command 'sned'$/, /^did you mean 'tool send'\? Run 'tool --help'/],
    [["service", "stpo"], /^unknown command 'stpo'$/, /did you mean 'tool service stop'\?/],
    [["service", "run", "x"], /^too many arguments for 'run'/, /Run 'tool service run --help'/],
    [["send", "--jsno"], /^unknown option '--jsno'$/, /^did you mean --json\? /],
    [["send"], /^missing required argument 'target'$/, /Run 'tool send --help' to see the usage/],
    [["search"], /^missing required argument 'terms'$/, /./],
    [["service", "stop", "--timeout"], /^option '--timeout <seconds>' needs a value$/, /./],
    [
      ["service", "stop", "--timeout", "soon"],
      /^option '--timeout <seconds>' argument 'soon' is invalid: expected seconds, got "soon"$/,
      /./,
    ],
    [["--log-format", "xml"], /argument 'xml' is invalid \(choose human or json\)$/, /./],
    [["send", "a", "--json=yes"], /^option '--json' takes no value/, /./],
  ];
  for (const [argv, message, hint] of cases) {
    await t.step(argv.join(" "), () => {
      const error = refused(argv);
      assert.match(error.message, message);
      assert.match(error.hint ?? "", hint);
      assert.equal(error.exitCode, 2);
    });
  }
});

Deno.test("hidden commands are left out of help and guesses; help lists arguments and choices", () => {
  const program = tree();
  const top = helpText(program);
  assert.ok(!top.includes("secret"), top);
  assert.match(top, /^Usage: tool \[options\] \[command\]\n/);
  assert.match(top, /--log-format <format>\s+format \(human, json\)/);
  assert.match(top, /send <target> \[text\]\s+send/);
  const send = helpText(program.commands.find((c) => c.name === "send")!);
  assert.match(send, /^Usage: tool send \[options\] <target> \[text\]\n/);
  assert.match(send, /Arguments:\n {2}target\s+where\n {2}text\s+what/);
  assert.doesNotMatch(refused(["secrte"]).hint ?? "", /secret/);
});

Deno.test("short flags cluster; help asked for wins over a mistake before it", () => {
  assert.deepEqual(run(["-vv", "send", "a"]).globals, { verbose: true });
  const help = parseCommandLine(tree(), ["send", "--nope", "--help"]);
  assert.ok(help.kind === "help" && help.asked && help.command.path === "tool send");
  const leaf = parseCommandLine(tree(), ["help", "send", "local:a"]);
  assert.ok(leaf.kind === "help" && leaf.command.path === "tool send");
});

Deno.test("an unknown option gets a guess only when one is close, or is sent after its command", () => {
  assert.equal(refused(["send", "a", "--zzzz"]).hint, "Run 'tool send --help' to see the usage");
  const early = refused(["--json", "send", "a"]);
  assert.match(early.hint ?? "", /'--json' belongs to 'tool send': write it after the command/);
});

Deno.test("declarations the types could not follow are refused at once", () => {
  const command = new CliCommand("tool").command("x");
  assert.throws(() => command.option("--json", "twice").option("--json", "again"), /--json/);
  assert.throws(() => command.option("--count", "n", (w) => Number(w)), /need a <value>/);
  assert.throws(() => command.argument("<all...>", "a").argument("<last>", "b"), /never be given/);
  assert.throws(
    () => new CliCommand("y").action(() => {}).argument("<a>", "a"),
    /after the action/,
  );
});

Deno.test("help wraps descriptions to the width it is given, under their column", () => {
  const program = new CliCommand("tool");
  program.command("send").description(
    "Send a message to a chat through the running gateway, queued and retried like a reply",
  );
  const lines = helpText(program, 50).split("\n");
  assert.ok(lines.every((line) => line.length <= 50), lines.join("\n"));
  const at = lines.findIndex((line) => line.startsWith("  send "));
  const column = lines[at]!.indexOf("Send");
  assert.match(lines[at + 1]!, new RegExp(`^ {${column}}\\S`));
});
