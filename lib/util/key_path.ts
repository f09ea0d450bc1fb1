/**
 * Dotted key paths (`gateway.drain_timeout`) into nested plain objects.
 *
 * @module
 */

/** A nested plain object, as parsed from YAML or JSON. */
export type Tree = Record<string, unknown>;

/** Whether `value` is a plain object (not null, not an array). */
export function isTree(value: unknown): value is Tree {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The value at a dotted path, or undefined when any step is missing.
 *
 * @example
 * ```ts
 * getPath({ gateway: { drain_timeout: 30 } }, "gateway.drain_timeout"); // 30
 * ```
 */
export function getPath(tree: unknown, path: string): unknown {
  let current: unknown = tree;
  for (const key of path.split(".")) {
    if (!isTree(current)) return undefined;
    current = current[key];
  }
  return current;
}

/**
 * Sets the value at a dotted path, creating (or replacing non-object) steps.
 *
 * @example
 * ```ts
 * const tree = {};
 * setPath(tree, "logging.level", "debug"); // tree is { logging: { level: "debug" } }
 * ```
 */
export function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split(".");
  let current = tree;
  for (const key of keys.slice(0, -1)) {
    if (!isTree(current[key])) current[key] = {};
    current = current[key] as Tree;
  }
  current[keys.at(-1)!] = value;
}
