/**
 * Loads the configuration in three layers, lowest first: `config.yaml`, then
 * `.env`, then the process environment. Remembers where each value came from
 * and which values are secrets.
 *
 * @module
 */

import type { z } from "zod";
import { ConfigError } from "../errors.ts";
import type { HermesPaths } from "./home.ts";
import { type DotenvVars, parseDotenv } from "./dotenv.ts";
import { type Config, configSchema, configSections } from "./schema.ts";
import { type LeafKind, leaves, objectShape, schemaAt } from "./_schema_walk.ts";
import { isSecretName } from "./secrets.ts";
import { getPath, isTree, setPath, type Tree } from "../util/key_path.ts";

/** Where a value came from. */
export type ValueSource =
  | { readonly layer: "default" }
  | { readonly layer: "config" }
  | { readonly layer: "dotenv"; readonly variable: string }
  | { readonly layer: "env"; readonly variable: string };

/** A variable in .env that no setting reads (kept for `config show`). */
export interface UnusedVariable {
  readonly name: string;
  readonly value: string;
  readonly secret: boolean;
}

/** The loaded configuration and what `config show` and the logger need to know of it. */
export interface LoadedConfig {
  /** Validated values with defaults applied. */
  readonly config: Config;
  /** Dotted setting path → the layer that set it. */
  readonly sources: ReadonlyMap<string, ValueSource>;
  /** Dotted setting paths whose values are secrets. */
  readonly secretPaths: ReadonlySet<string>;
  /** Every secret value found in any layer, for the log masker. */
  readonly secrets: readonly string[];
  /** Problems that do not stop hermes, such as unknown keys. */
  readonly warnings: readonly string[];
  /** Variables set in .env that no setting reads. */
  readonly unusedDotenv: readonly UnusedVariable[];
  /** Whether config.yaml and .env exist. */
  readonly found: { readonly configFile: boolean; readonly envFile: boolean };
}

/** What {@linkcode loadConfig} reads. */
export interface LoadOptions {
  readonly paths: HermesPaths;
  /** The process environment (highest layer). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * Reads, merges and validates the configuration. Throws `ConfigError` naming
 * the file (and line and column, or key path) of the first problem.
 *
 * @example
 * ```ts
 * import { hermesPaths } from "./home.ts";
 * const { config } = await loadConfig({ paths: hermesPaths("/srv/hermes"), env: Deno.env.toObject() });
 * config.gateway.drain_timeout; // 180 unless set
 * ```
 */
export async function loadConfig(options: LoadOptions): Promise<LoadedConfig> {
  const { paths, env } = options;
  const warnings: string[] = [];
  const yamlText = await readIfPresent(paths.configFile);
  const tree = yamlText === undefined ? {} : await parseYaml(yamlText, paths.configFile, warnings);
  const envText = await readIfPresent(paths.envFile);
  const dotenv: DotenvVars = envText === undefined
    ? new Map()
    : parseDotenv(envText, paths.envFile);

  const schema = configSchema();
  warnUnknownKeys(tree, schema, "", paths.configFile, warnings);
  const sources = new Map<string, ValueSource>();
  for (const leaf of leaves(schema)) {
    sources.set(
      leaf.path,
      getPath(tree, leaf.path) !== undefined ? { layer: "config" } : { layer: "default" },
    );
  }

  const usedNames = new Set<string>();
  for (const section of configSections()) {
    for (const [variable, keyPath] of Object.entries(section.env)) {
      usedNames.add(variable);
      const path = `${section.key}.${keyPath}`;
      const fromEnv = nonEmpty(env[variable]);
      const fromDotenv = nonEmpty(dotenv.get(variable)?.value);
      const raw = fromEnv ?? fromDotenv;
      if (raw === undefined) continue;
      setPath(tree, path, coerce(raw, kindAt(path)));
      sources.set(
        path,
        fromEnv !== undefined ? { layer: "env", variable } : { layer: "dotenv", variable },
      );
    }
  }

  const parsed = schema.safeParse(tree);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error.issues, sources, paths));

  const secretPaths = new Set(
    configSections().flatMap((s) => s.secrets.map((k) => `${s.key}.${k}`)),
  );
  const secrets = new Set<string>();
  for (const path of secretPaths) {
    const value = getPath(parsed.data, path);
    if (typeof value === "string") secrets.add(value);
  }
  for (const [name, { value }] of dotenv) if (isSecretName(name)) secrets.add(value);
  for (const [name, value] of Object.entries(env)) {
    if (value && isSecretName(name)) secrets.add(value);
  }

  const unusedDotenv = [...dotenv]
    .filter(([name]) => !usedNames.has(name))
    .map(([name, { value }]) => ({ name, value, secret: isSecretName(name) }));

  return {
    config: parsed.data as Config,
    sources,
    secretPaths,
    secrets: [...secrets],
    warnings,
    unusedDotenv,
    found: { configFile: yamlText !== undefined, envFile: envText !== undefined },
  };
}

/**
 * The environment platforms see: `.env` variables no setting reads (a
 * plugin's token, `MYPLUGIN_DM_POLICY`), below the process environment.
 *
 * @example
 * ```ts
 * declare const loaded: LoadedConfig; // what loadConfig gave
 * const env = environmentWithDotenv(loaded, Deno.env.toObject());
 * ```
 */
export function environmentWithDotenv(
  loaded: LoadedConfig,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string | undefined> {
  return { ...Object.fromEntries(loaded.unusedDotenv.map((v) => [v.name, v.value])), ...env };
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new ConfigError(
      `Cannot load config "${path}": ${(error as Error).message}; check the file's permissions`,
      { cause: error },
    );
  }
}

async function parseYaml(text: string, file: string, warnings: string[]): Promise<Tree> {
  const { parseDocument } = await import("yaml");
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const [first] = doc.errors;
  if (first) {
    const pos = first.linePos?.[0];
    const where = pos ? `line ${pos.line}, column ${pos.col}: ` : "";
    throw new ConfigError(`Cannot load config "${file}": ${where}${yamlProblem(first.message)}`);
  }
  for (const warning of doc.warnings) warnings.push(`${file}: ${yamlProblem(warning.message)}`);
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (!isTree(value)) {
    throw new ConfigError(
      `Cannot load config "${file}": the top level must be a mapping of sections such as "gateway:"`,
    );
  }
  return value;
}

/** The yaml library's message without its " at line N, column M:" and code frame. */
function yamlProblem(message: string): string {
  const firstLine = message.split("\n")[0] ?? message;
  return firstLine.replace(/ at line \d+, column \d+:?$/, "").trim();
}

function warnUnknownKeys(
  tree: Tree,
  schema: z.ZodType,
  prefix: string,
  file: string,
  warnings: string[],
): void {
  const shape = objectShape(schema);
  if (!shape) return;
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const child = shape[key];
    if (!child) {
      warnings.push(
        `${file}: unknown key "${path}" is ignored (a setting of a newer hermes, or a typo)`,
      );
    } else if (isTree(value)) {
      warnUnknownKeys(value, child, path, file, warnings);
    }
  }
}

function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  sources: ReadonlyMap<string, ValueSource>,
  paths: HermesPaths,
): string {
  const byOrigin = new Map<string, string[]>();
  for (const issue of issues) {
    const path = issue.path.join(".");
    const origin = describeOrigin(sources.get(path) ?? { layer: "config" }, paths);
    const message = issue.message.replace(/^Invalid (input|option): /, "");
    const list = byOrigin.get(origin) ?? [];
    list.push(path ? `${path}: ${message}` : message);
    byOrigin.set(origin, list);
  }
  return [...byOrigin].map(([origin, list]) => `Cannot load config ${origin}: ${list.join("; ")}`)
    .join("; ");
}

function describeOrigin(source: ValueSource, paths: HermesPaths): string {
  switch (source.layer) {
    case "env":
      return `from environment variable ${source.variable}`;
    case "dotenv":
      return `"${paths.envFile}" (${source.variable})`;
    default:
      return `"${paths.configFile}"`;
  }
}

function kindAt(path: string): LeafKind {
  const schema = schemaAt(configSchema(), path);
  return schema ? leaves(schema)[0]?.kind ?? "other" : "other";
}

/** Reads an environment string as the kind of value the setting holds. */
function coerce(raw: string, kind: LeafKind): unknown {
  const text = raw.trim();
  switch (kind) {
    case "number":
      return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : raw;
    case "boolean":
      if (/^(true|1|yes|on)$/i.test(text)) return true;
      if (/^(false|0|no|off)$/i.test(text)) return false;
      return raw;
    case "list":
      return text.split(",").map((item) => item.trim()).filter(Boolean);
    default:
      return raw;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
