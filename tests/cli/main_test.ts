import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { runHermes, tempDir } from "../_helpers.ts";

Deno.test("hermes --version prints the version from deno.json", async () => {
  await using home = tempDir();
  const result = await runHermes(["--version"], { home: home.path });
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `hermes ${denoJson.version}\n`);
});

Deno.test("hermes --help lists the command groups and exits 0", async () => {
  await using home = tempDir();
  const result = await runHermes(["--help"], { home: home.path });
  assert.equal(result.code, 0);
  assert.match(result.stdout, /Usage: hermes/);
  assert.match(result.stdout, /config/);
  assert.match(result.stdout, /completion <shell>/);
});

Deno.test("an unknown command exits 2 in one line with the nearest command as a hint", async (t) => {
  await using home = tempDir();
  await t.step("top level", async () => {
    const result = await runHermes(["frobnicate"], { home: home.path });
    assert.equal(result.code, 2);
    const [line, hint, ...rest] = result.stderr.trimEnd().split("\n");
    assert.equal(line, "hermes: unknown command 'frobnicate'");
    assert.match(hint!, /^hint: did you mean 'hermes (config|completion)'\? Run 'hermes --help'/);
    assert.deepEqual(rest, []);
    assert.equal(result.stdout, "");
  });
  await t.step("inside a group", async () => {
    const result = await runHermes(["config", "chekc"], { home: home.path });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /hint: did you mean 'hermes config check'\?/);
  });
});

Deno.test("a mistyped subcommand of gateway (whose default is run) gets the group's hint, not run's usage", async (t) => {
  await using home = tempDir();
  for (const args of [["gateway", "stauts"], ["gateway", "stauts", "--json"]]) {
    await t.step(args.join(" "), async () => {
      const result = await runHermes(args, { home: home.path });
      assert.equal(result.code, 2, result.stderr);
      assert.equal(
        result.stderr,
        "hermes: unknown command 'stauts'\n" +
          "hint: did you mean 'hermes gateway status'? Run 'hermes gateway --help' to see the commands\n",
      );
      assert.equal(result.stdout, "");
    });
  }
  await t.step("gateway run with an extra word keeps run's usage error", async () => {
    const result = await runHermes(["gateway", "run", "stauts"], { home: home.path });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^hermes: too many arguments for 'run'/);
    assert.match(result.stderr, /Run 'hermes gateway run --help' to see the usage/);
  });
});

Deno.test("hermes gateway and hermes gateway --replace still run the gateway", async (t) => {
  for (const args of [["gateway"], ["gateway", "--replace"]]) {
    await t.step(args.join(" "), async () => {
      await using home = tempDir();
      // A broken configuration makes the run end at once, and shows it was a run.
      await Deno.writeTextFile(`${home.path}/config.yaml`, "gateway:\n  drain_timeout: soon\n");
      const result = await runHermes(args, { home: home.path });
      assert.equal(result.code, 78, result.stderr);
      assert.match(result.stderr, /gateway\.drain_timeout/);
      const state = JSON.parse(await Deno.readTextFile(`${home.path}/gateway_state.json`));
      assert.equal(state.gateway_state, "startup_failed");
    });
  }
});

Deno.test("usage mistakes exit 2 with a hint naming the help to read", async (t) => {
  await using home = tempDir();
  for (
    const [args, message] of [
      [["config", "show", "--jsn"], /unknown option '--jsn'/],
      [["completion", "tcsh"], /value 'tcsh' is invalid for argument 'shell'/],
      [
        ["--log-format", "xml", "config", "check"],
        /option '--log-format <format>' argument 'xml' is invalid/,
      ],
      [["config"], /Usage: hermes config/],
    ] as const
  ) {
    await t.step(args.join(" "), async () => {
      const result = await runHermes([...args], { home: home.path });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    });
  }
});

Deno.test("hermes config check exits 0 on a valid home and creates it with mode 0700", async () => {
  await using dir = tempDir();
  const home = `${dir.path}/fresh-home`;
  const result = await runHermes(["config", "check"], { home });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Config OK: no config file at .*config\.yaml, defaults apply\n$/);
  assert.equal((await Deno.stat(home)).mode! & 0o777, 0o700);
});

Deno.test("hermes config check exits 78 naming file, line and column of a YAML error", async () => {
  await using home = tempDir();
  const file = `${home.path}/config.yaml`;
  await Deno.writeTextFile(file, "gateway:\n  drain_timeout: 30\nlogging: level: debug\n");
  const result = await runHermes(["config", "check"], { home: home.path });
  assert.equal(result.code, 78);
  assert.equal(
    result.stderr,
    `hermes: Cannot load config "${file}": line 3, column 10: Nested mappings are not allowed in compact mappings\n`,
  );
});

Deno.test("hermes config check refuses what a start would refuse: an enabled platform without its secret", async () => {
  await using home = tempDir();
  const result = await runHermes(["config", "check"], {
    home: home.path,
    env: { WECOM_BOT_ID: "bot-1" },
  });
  assert.equal(result.code, 78, result.stdout);
  assert.match(result.stderr, /WECOM_SECRET is not set: set WECOM_BOT_ID and WECOM_SECRET/);
});

Deno.test("hermes config check exits 78 naming the key path of a wrong type", async () => {
  await using home = tempDir();
  const file = `${home.path}/config.yaml`;
  await Deno.writeTextFile(file, "gateway:\n  drain_timeout: three minutes\n");
  const result = await runHermes(["config", "check"], { home: home.path });
  assert.equal(result.code, 78);
  assert.equal(
    result.stderr,
    `hermes: Cannot load config "${file}": gateway.drain_timeout: expected number, received string\n`,
  );
});

Deno.test("hermes config check warns about unknown keys but passes", async () => {
  await using home = tempDir();
  await Deno.writeTextFile(
    `${home.path}/config.yaml`,
    "gateway:\n  drain_timeout: 30\ntelegramm:\n  x: 1\n",
  );
  const result = await runHermes(["--log-format", "json", "config", "check"], { home: home.path });
  assert.equal(result.code, 0);
  assert.match(result.stdout, /Config OK: .*config\.yaml \(1 warning\)/);
  const record = JSON.parse(result.stderr.trim());
  assert.equal(record.level, "warn");
  assert.match(record.msg, /unknown key "telegramm" is ignored/);
});

Deno.test("a secret set in .env never appears in config show or in log lines", async (t) => {
  await using home = tempDir();
  const token = "7012345678:AAE-never-print-this";
  await Deno.writeTextFile(
    `${home.path}/.env`,
    `DISCORD_BOT_TOKEN=${token}\nHERMES_LOG_LEVEL=debug\n`,
  );
  // The same value pasted where a log line and an error will quote it.
  await Deno.writeTextFile(
    `${home.path}/config.yaml`,
    `gateway:\n  drain_timeout: 30\n"${token}": 1\n`,
  );

  await t.step("config show", async () => {
    const result = await runHermes(["config", "show"], { home: home.path });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes(token) && !result.stderr.includes(token));
    assert.match(result.stdout, /DISCORD_BOT_TOKEN=\*\*\*/);
    assert.match(result.stdout, /logging\.level\s+debug\s+\.env HERMES_LOG_LEVEL/);
    assert.match(result.stdout, /gateway\.drain_timeout\s+30\s+config\.yaml/);
  });
  await t.step("config show --json", async () => {
    const result = await runHermes(["config", "show", "--json"], { home: home.path });
    assert.ok(!result.stdout.includes(token) && !result.stderr.includes(token));
    const shown = JSON.parse(result.stdout);
    assert.deepEqual(shown.unused_env, [{ name: "DISCORD_BOT_TOKEN", value: "***" }]);
  });
  await t.step("log lines, human and JSON", async () => {
    for (const format of ["human", "json"]) {
      const result = await runHermes(["-v", "--log-format", format, "config", "check"], {
        home: home.path,
      });
      assert.equal(result.code, 0);
      assert.match(result.stderr, /unknown key \\?"\*\*\*\\?" is ignored/);
      assert.ok(!result.stderr.includes(token), result.stderr);
    }
  });
  await t.step("error lines", async () => {
    await Deno.writeTextFile(`${home.path}/config.yaml`, `gateway: ${token}\n`);
    const result = await runHermes(["config", "check"], { home: home.path });
    assert.equal(result.code, 78);
    assert.ok(!result.stderr.includes(token), result.stderr);
  });
});

Deno.test("config show reports the layer each value came from", async () => {
  await using home = tempDir();
  await Deno.writeTextFile(`${home.path}/config.yaml`, "logging:\n  format: json\n");
  const result = await runHermes(["config", "show", "--json"], {
    home: home.path,
    env: { GATEWAY_DRAIN_TIMEOUT: "12" },
  });
  const { settings } = JSON.parse(result.stdout) as { settings: Array<Record<string, unknown>> };
  const byKey = Object.fromEntries(settings.map((s) => [s.key, s]));
  assert.deepEqual(byKey["gateway.drain_timeout"], {
    key: "gateway.drain_timeout",
    value: 12,
    source: "env",
    variable: "GATEWAY_DRAIN_TIMEOUT",
  });
  assert.deepEqual(byKey["logging.format"], {
    key: "logging.format",
    value: "json",
    source: "config",
  });
  assert.deepEqual(byKey["logging.level"], {
    key: "logging.level",
    value: "info",
    source: "default",
  });
});

Deno.test("hermes config path and schema print what editors need", async () => {
  await using home = tempDir();
  const path = await runHermes(["config", "path"], { home: home.path });
  assert.equal(path.stdout, `${home.path}/config.yaml\n`);
  const schema = await runHermes(["config", "schema"], { home: home.path });
  assert.equal(schema.code, 0);
  assert.equal(JSON.parse(schema.stdout).properties.gateway.properties.drain_timeout.default, 180);
});

Deno.test("hermes completion prints scripts that call back for live completions", async (t) => {
  await using home = tempDir();
  for (
    const [shell, marker] of [["bash", "complete -F"], ["zsh", "compdef"], [
      "fish",
      "complete -c hermes",
    ], ["powershell", "Register-ArgumentCompleter"]] as const
  ) {
    await t.step(shell, async () => {
      const result = await runHermes(["completion", shell], { home: home.path });
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.stdout.includes(marker), `${shell} script lacks ${marker}`);
      assert.ok(result.stdout.includes("hermes"));
    });
  }
  await t.step("live completion of config subcommands", async () => {
    const result = await runHermes(["complete", "--", "config", ""], { home: home.path });
    const names = result.stdout.split("\n").map((l) => l.split("\t")[0]);
    for (const name of ["check", "show", "schema", "path"]) {
      assert.ok(names.includes(name), result.stdout);
    }
  });
});

Deno.test("HERMES_HOME pointing at a file is a configuration error (exit 78)", async () => {
  await using dir = tempDir();
  const file = `${dir.path}/plain-file`;
  await Deno.writeTextFile(file, "");
  const result = await runHermes(["config", "check"], { home: file });
  assert.equal(result.code, 78);
  assert.match(
    result.stderr,
    /^hermes: Cannot use the hermes home ".*plain-file": it is a file, not a folder; set HERMES_HOME to a folder\n$/,
  );
});
