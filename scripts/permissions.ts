/**
 * The flags the `hermes` CLI runs with (permissions, `--no-prompt`, V8
 * flags), read from the `hermes` task in deno.json so that the task, the
 * bundle's shebang, the service units and the compiled binaries never
 * disagree.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

/**
 * The `--allow-*`, `--no-prompt` and `--v8-flags=` flags of the `hermes` task.
 * `--v8-flags=--optimize-for-size` keeps a gateway under load at about 100
 * MiB instead of 170-190 (V8 grows its heap less eagerly), for about 12 %
 * of its peak throughput (`deno task bench`).
 *
 * @example
 * ```ts
 * cliRunFlags(); // ["--no-prompt", "--allow-all", "--v8-flags=--optimize-for-size"]
 * ```
 */
export function cliRunFlags(): string[] {
  return denoJson.tasks.hermes.split(/\s+/)
    .filter((word) =>
      word.startsWith("--allow-") || word === "--no-prompt" || word.startsWith("--v8-flags=")
    );
}
