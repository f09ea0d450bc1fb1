/**
 * The platform registry, the one global of the gateway: built-in platforms
 * register themselves here when their module is imported, and plugins named
 * in `plugins:` are imported and registered at start.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { type Config, registerSection } from "../config/schema.ts";
import type { ConfigSection } from "../config/section.ts";
import type { PlatformDefinition } from "./adapter.ts";

const platforms = new Map<string, PlatformDefinition>();

/** Names a platform may not take: their folder under platforms/ holds other state. */
const RESERVED_NAMES = new Set(["pairing"]);

/**
 * Adds a platform; a second platform with the same name is refused. A
 * built-in platform brings its settings `section` (`local:`), which the
 * configuration schema then includes.
 *
 * @example
 * ```ts
 * import type { AdapterContext, PlatformAdapter } from "./adapter.ts";
 * declare const create: (context: AdapterContext) => PlatformAdapter;
 * registerPlatform({ name: "local", description: "web chat", enabled: () => true, create });
 * ```
 */
export function registerPlatform<S>(
  definition: PlatformDefinition<S>,
  options: { section?: ConfigSection } = {},
): void {
  if (!/^[a-z][a-z0-9_]*$/.test(definition.name)) {
    throw new Error(
      `Cannot register platform "${definition.name}": names are lower case letters, digits and _`,
    );
  }
  if (RESERVED_NAMES.has(definition.name)) {
    throw new Error(
      `Cannot register platform "${definition.name}": the name is reserved (platforms/${definition.name}/ holds other state)`,
    );
  }
  const existing = platforms.get(definition.name);
  if (existing && existing !== definition) {
    throw new Error(`Cannot register platform "${definition.name}": the name is taken`);
  }
  if (options.section) registerSection(options.section);
  platforms.set(definition.name, definition as PlatformDefinition);
}

/** Every registered platform, in registration order. */
export function registeredPlatforms(): PlatformDefinition[] {
  return [...platforms.values()];
}

/**
 * Whether the ids of `platform` ignore case, as its definition declares
 * (`idsFoldCase`); true for a platform that does not say so or is not
 * registered (here, such as a plugin the CLI did not load), as every id was
 * compared before platforms declared it.
 *
 * @example
 * ```ts
 * idsFoldCase("wecom"); // true once lib/platforms/builtin.ts is imported
 * idsFoldCase("weixin"); // false: iLink ids are case-sensitive
 * ```
 */
export function idsFoldCase(platform: string): boolean {
  return platforms.get(platform)?.idsFoldCase ?? true;
}

/**
 * The platforms the configuration turns on: every platform that says so,
 * then those that turn on only when nothing else is (the local web chat).
 */
export function enabledPlatforms(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
): PlatformDefinition[] {
  const all = registeredPlatforms();
  // Asked as if others were on, a platform answers whether it is on by itself.
  const explicit = all.filter((p) => p.enabled(config, env, true));
  const othersEnabled = (p: PlatformDefinition) => explicit.some((e) => e !== p);
  return all.filter((p) => explicit.includes(p) || p.enabled(config, env, othersEnabled(p)));
}

/**
 * Imports each plugin module named in `plugins:` (paths relative to the home)
 * and registers the platform it exports as `platform` or `default`.
 *
 * @example
 * ```ts
 * await loadPlugins(["plugins/matrix.ts"], "/srv/hermes");
 * ```
 */
export async function loadPlugins(paths: readonly string[], home: string): Promise<void> {
  for (const path of paths) {
    const file = path.startsWith("/") ? path : `${home}/${path}`;
    let module: Record<string, unknown>;
    try {
      module = await import(fileUrl(file));
    } catch (error) {
      throw new ConfigError(
        `Cannot load plugin "${path}": ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    const definition = (module.platform ?? module.default) as PlatformDefinition | undefined;
    if (
      !definition || typeof definition.name !== "string" ||
      typeof definition.create !== "function" ||
      typeof definition.enabled !== "function"
    ) {
      throw new ConfigError(
        `Cannot load plugin "${path}": it exports no platform (export const platform = { name, description, enabled, create })`,
      );
    }
    try {
      registerPlatform(definition);
    } catch (error) {
      throw new ConfigError(`Cannot load plugin "${path}": ${(error as Error).message}`);
    }
  }
}

/** The file: URL of an absolute path, each segment escaped. */
function fileUrl(path: string): string {
  return "file://" + path.split("/").map(encodeURIComponent).join("/");
}
