/**
 * `hermes config check|show|schema|path`: validate, inspect and locate the
 * configuration.
 *
 * @module
 */

import type { CliCommand } from "./command.ts";
import { hermesPaths, resolveHome } from "../lib/config/home.ts";
import type { LoadedConfig, ValueSource } from "../lib/config/load.ts";
import { MASK } from "../lib/util/secret_mask.ts";
import { getPath } from "../lib/util/key_path.ts";
import { openContext } from "./context.ts";
import type { CliIo } from "./io.ts";

/** Adds the `config` command group to `program`. */
export function registerConfigCommands(program: CliCommand, io: CliIo): void {
  const config = program.command("config").description(
    "Validate, show and locate the configuration",
  );

  config.command("check")
    .description(
      "Validate config.yaml, .env, the environment and what each enabled platform needs; exit 0 when valid, 78 when not",
    )
    .action(async (_options, command) => {
      const { paths, loaded } = await openContext(io, command);
      // What a start would refuse (a platform without its credentials, an open policy without
      // its confirmation, an agent that cannot be made) is refused here too.
      const { preparePlatforms } = await import("../lib/gateway/services.ts");
      await preparePlatforms(loaded.config, io.env, paths.home);
      const where = loaded.found.configFile
        ? paths.configFile
        : `no config file at ${paths.configFile}, defaults apply`;
      const warnings = loaded.warnings.length;
      io.out(
        `Config OK: ${where}${
          warnings ? ` (${warnings} warning${warnings > 1 ? "s" : ""})` : ""
        }\n`,
      );
    });

  config.command("show")
    .description("Print the effective configuration and the layer each value came from")
    .option("--json", "print one JSON object")
    .action(async (options, command) => {
      const { paths, loaded } = await openContext(io, command);
      const settings = effectiveSettings(loaded);
      if (options.json) {
        io.out(`${
          JSON.stringify(
            {
              home: paths.home,
              files: {
                config: { path: paths.configFile, found: loaded.found.configFile },
                env: { path: paths.envFile, found: loaded.found.envFile },
              },
              settings,
              unused_env: loaded.unusedDotenv.map((v) => ({
                name: v.name,
                value: v.secret ? MASK : v.value,
              })),
            },
            null,
            2,
          )
        }\n`);
        return;
      }
      const found = (yes: boolean) => (yes ? "" : " (not found)");
      const lines = [
        `config.yaml  ${paths.configFile}${found(loaded.found.configFile)}`,
        `.env         ${paths.envFile}${found(loaded.found.envFile)}`,
        "",
        ...table(
          settings.map((s) => [s.key, display(s.value), describeSource(s.source, s.variable)]),
        ),
      ];
      if (loaded.unusedDotenv.length) {
        lines.push("", "Set in .env but read by no setting of this version:");
        for (const v of loaded.unusedDotenv) lines.push(`  ${v.name}=${v.secret ? MASK : v.value}`);
      }
      io.out(`${lines.join("\n")}\n`);
    });

  config.command("schema")
    .description("Print the JSON Schema of config.yaml, for editors")
    .action(async () => {
      const [{ configJsonSchema }] = await Promise.all([
        import("../lib/config/schema.ts"),
        import("../lib/platforms/builtin.ts"), // the built-in platforms' sections
      ]);
      io.out(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });

  config.command("path")
    .description("Print the path of config.yaml")
    .action(() => {
      io.out(`${hermesPaths(resolveHome(io.env)).configFile}\n`);
    });
}

interface Setting {
  key: string;
  value: unknown;
  source: ValueSource["layer"];
  variable?: string;
}

function effectiveSettings(loaded: LoadedConfig): Setting[] {
  return [...loaded.sources].map(([key, source]) => {
    const value = getPath(loaded.config, key);
    return {
      key,
      value: loaded.secretPaths.has(key) && value !== undefined ? MASK : value,
      source: source.layer,
      ...("variable" in source ? { variable: source.variable } : {}),
    };
  });
}

function describeSource(layer: ValueSource["layer"], variable?: string): string {
  switch (layer) {
    case "config":
      return "config.yaml";
    case "dotenv":
      return `.env ${variable}`;
    case "env":
      return `environment ${variable}`;
    default:
      return "default";
  }
}

function display(value: unknown): string {
  if (value === undefined) return "(unset)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function table(rows: string[][]): string[] {
  const widths = rows.reduce<number[]>(
    (w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)),
    [],
  );
  return rows.map((row) =>
    row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]!) : cell)).join("  ")
  );
}
