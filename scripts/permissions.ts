/**
 * The permission flags the `hermes` CLI runs with, read from the `hermes` task
 * in deno.json so that the task, the bundle's shebang and the compiled
 * binaries never disagree.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

/**
 * The `--allow-*` and `--no-prompt` flags of the `hermes` task.
 *
 * @example
 * ```ts
 * cliPermissionFlags(); // ["--no-prompt", "--allow-all"]
 * ```
 */
export function cliPermissionFlags(): string[] {
  return denoJson.tasks.hermes.split(/\s+/)
    .filter((word) => word.startsWith("--allow-") || word === "--no-prompt");
}
