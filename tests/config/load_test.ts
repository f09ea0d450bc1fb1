import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { loadConfig } from "../../lib/config/load.ts";
import { ConfigError } from "../../lib/errors.ts";
import { tempDir } from "../_helpers.ts";

async function homeWith(dir: string, files: { yaml?: string; dotenv?: string }) {
  const paths = hermesPaths(dir);
  if (files.yaml !== undefined) await Deno.writeTextFile(paths.configFile, files.yaml);
  if (files.dotenv !== undefined) await Deno.writeTextFile(paths.envFile, files.dotenv);
  return paths;
}

Deno.test("loadConfig() applies defaults when no file exists", async () => {
  await using dir = tempDir();
  const loaded = await loadConfig({ paths: hermesPaths(dir.path), env: {} });
  assert.equal(loaded.config.gateway.drain_timeout, 180);
  assert.equal(loaded.config.logging.level, "info");
  assert.deepEqual(loaded.found, { configFile: false, envFile: false });
  assert.deepEqual(loaded.sources.get("gateway.drain_timeout"), { layer: "default" });
});

Deno.test("loadConfig() layers config.yaml, then .env, then the environment", async () => {
  await using dir = tempDir();
  const paths = await homeWith(dir.path, {
    yaml: "gateway:\n  drain_timeout: 30\nlogging:\n  level: warn\n  format: json\n",
    dotenv: "GATEWAY_DRAIN_TIMEOUT=45\nHERMES_LOG_LEVEL=error\n",
  });
  const loaded = await loadConfig({ paths, env: { HERMES_LOG_LEVEL: "debug" } });
  assert.equal(loaded.config.logging.format, "json");
  assert.deepEqual(loaded.sources.get("logging.format"), { layer: "config" });
  assert.equal(loaded.config.gateway.drain_timeout, 45);
  assert.deepEqual(loaded.sources.get("gateway.drain_timeout"), {
    layer: "dotenv",
    variable: "GATEWAY_DRAIN_TIMEOUT",
  });
  assert.equal(loaded.config.logging.level, "debug");
  assert.deepEqual(loaded.sources.get("logging.level"), {
    layer: "env",
    variable: "HERMES_LOG_LEVEL",
  });
});

Deno.test("loadConfig() names the file and key path of a value of the wrong type", async () => {
  await using dir = tempDir();
  const paths = await homeWith(dir.path, { yaml: "gateway:\n  drain_timeout: soon\n" });
  await assert.rejects(
    loadConfig({ paths, env: {} }),
    (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        `Cannot load config "${paths.configFile}": gateway.drain_timeout: expected number, received string`,
      );
      return true;
    },
  );
});

Deno.test("loadConfig() names line and column of a YAML syntax error", async () => {
  await using dir = tempDir();
  const paths = await homeWith(dir.path, {
    yaml: "gateway:\n  drain_timeout: 30\nlogging: level: debug\n",
  });
  await assert.rejects(loadConfig({ paths, env: {} }), (error: Error) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(
      error.message,
      `Cannot load config "${paths.configFile}": line 3, column 10: Nested mappings are not allowed in compact mappings`,
    );
    return true;
  });
});

Deno.test("loadConfig() names the variable when the environment holds a bad value", async (t) => {
  await using dir = tempDir();
  await t.step("process environment", async () => {
    const paths = hermesPaths(dir.path);
    await assert.rejects(
      loadConfig({ paths, env: { GATEWAY_DRAIN_TIMEOUT: "three minutes" } }),
      {
        message:
          "Cannot load config from environment variable GATEWAY_DRAIN_TIMEOUT: gateway.drain_timeout: expected number, received string",
      },
    );
  });
  await t.step(".env file", async () => {
    const paths = await homeWith(dir.path, { dotenv: "HERMES_LOG_LEVEL=loud\n" });
    await assert.rejects(loadConfig({ paths, env: {} }), (error: Error) => {
      assert.match(
        error.message,
        new RegExp(
          `^Cannot load config "${paths.envFile}" \\(HERMES_LOG_LEVEL\\): logging.level: expected one of`,
        ),
      );
      return true;
    });
  });
});

Deno.test("loadConfig() warns about unknown keys instead of failing", async () => {
  await using dir = tempDir();
  const paths = await homeWith(dir.path, {
    yaml: "gateway:\n  drain_timeout: 60\n  future_knob: 1\ntelegram:\n  bot_token: x\n",
  });
  const loaded = await loadConfig({ paths, env: {} });
  assert.equal(loaded.config.gateway.drain_timeout, 60);
  assert.equal(loaded.warnings.length, 2);
  assert.match(loaded.warnings[0]!, /unknown key "gateway.future_knob" is ignored/);
  assert.match(loaded.warnings[1]!, /unknown key "telegram" is ignored/);
});

Deno.test("loadConfig() accepts an empty config.yaml and rejects a top-level list", async () => {
  await using dir = tempDir();
  const paths = await homeWith(dir.path, { yaml: "# nothing yet\n" });
  assert.equal((await loadConfig({ paths, env: {} })).config.gateway.drain_timeout, 180);
  await Deno.writeTextFile(paths.configFile, "- gateway\n");
  await assert.rejects(loadConfig({ paths, env: {} }), /the top level must be a mapping/);
});

Deno.test("loadConfig() collects secret values from .env and the environment", async () => {
  await using dir = tempDir();
  const paths = await homeWith(dir.path, {
    dotenv: "TELEGRAM_BOT_TOKEN=7012345678:AAE-dotenv-secret\nWECOM_BOT_ID=bot-42\n",
  });
  const loaded = await loadConfig({ paths, env: { OPENAI_API_KEY: "sk-env-secret-value" } });
  assert.ok(loaded.secrets.includes("7012345678:AAE-dotenv-secret"));
  assert.ok(loaded.secrets.includes("sk-env-secret-value"));
  assert.ok(!loaded.secrets.includes("bot-42"));
  assert.deepEqual(loaded.unusedDotenv.map((v) => [v.name, v.secret]), [
    ["TELEGRAM_BOT_TOKEN", true],
    ["WECOM_BOT_ID", false],
  ]);
});

Deno.test("loadConfig() treats an empty variable as unset", async () => {
  await using dir = tempDir();
  const loaded = await loadConfig({
    paths: hermesPaths(dir.path),
    env: { GATEWAY_DRAIN_TIMEOUT: "" },
  });
  assert.equal(loaded.config.gateway.drain_timeout, 180);
});

Deno.test("storage.synchronous is full unless set to normal; another value names the choices", async () => {
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  assert.equal((await loadConfig({ paths, env: {} })).config.storage.synchronous, "full");
  const normal = await loadConfig({ paths, env: { HERMES_STORAGE_SYNCHRONOUS: "normal" } });
  assert.equal(normal.config.storage.synchronous, "normal");
  await assert.rejects(
    loadConfig({ paths, env: { HERMES_STORAGE_SYNCHRONOUS: "off" } }),
    (error: Error) =>
      error instanceof ConfigError && /storage\.synchronous/.test(error.message) &&
      /full|normal/.test(error.message),
  );
});
