/**
 * `deno task compile [--target TRIPLE]`: builds single-file binaries
 * `dist/hermes-<target>` for Linux x64/arm64, macOS x64/arm64 and Windows x64.
 *
 * `deno compile` downloads a small runtime (denort) per target from
 * dl.deno.land, or uses the file named by `DENORT_BIN`. Where neither is
 * available, this script fails with one line saying so.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { cliRunFlags } from "./permissions.ts";

/** The targets hermes ships binaries for. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/**
 * Recognises deno compile's failure to fetch its runtime and says it in one
 * line; undefined for any other failure.
 *
 * @example
 * ```ts
 * runtimeUnreachable("error sending request for url (https://dl.deno.land/...denort-x.zip): dns error", "x");
 * ```
 */
export function runtimeUnreachable(stderr: string, target: string): string | undefined {
  if (
    !/denort/.test(stderr) ||
    !/error sending request|dns error|Connect|timed out|status code/i.test(stderr)
  ) {
    return undefined;
  }
  const cause = stderr.match(/(dns error[^\n]*|timed out[^\n]*|status code \d+)/i)?.[1] ??
    "network error";
  return `Cannot compile hermes for ${target}: deno compile could not download its runtime ` +
    `(denort) from dl.deno.land (${cause.trim()}); run this where dl.deno.land is reachable, ` +
    `set DENORT_BIN to a local denort binary, or use "deno task bundle" for dist/hermes.js`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { target: { type: "string", multiple: true } },
  });
  const targets = values.target ?? [...TARGETS];
  const root = new URL("..", import.meta.url).pathname;
  for (const target of targets) {
    if (!(TARGETS as readonly string[]).includes(target)) {
      console.error(
        `Cannot compile hermes for "${target}": unknown target; use one of ${TARGETS.join(", ")}`,
      );
      Deno.exit(2);
    }
    const output = `${root}dist/hermes-${target}`;
    const result = await new Deno.Command(Deno.execPath(), {
      args: [
        "compile",
        "--quiet",
        ...cliRunFlags(),
        "--target",
        target,
        "--output",
        output,
        `${root}cli/main.ts`,
      ],
      stdout: "inherit",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(result.stderr);
    if (!result.success) {
      console.error(
        runtimeUnreachable(stderr, target) ??
          `Cannot compile hermes for ${target}: deno compile exited with code ${result.code}:\n${stderr.trim()}`,
      );
      Deno.exit(1);
    }
    console.log(`Wrote ${output}${target.includes("windows") ? ".exe" : ""}`);
  }
}
