/**
 * Helpers shared by tests: temporary homes and running the real CLI as a
 * subprocess with the same permissions as `deno task hermes`.
 *
 * @module
 */

import { cliRunFlags } from "../scripts/permissions.ts";

/** The repository root, ending in a slash. */
export const ROOT = new URL("../", import.meta.url).pathname;

/** A temporary folder removed at the end of the test's scope. */
export function tempDir(): { path: string } & AsyncDisposable {
  const path = Deno.makeTempDirSync({ prefix: "hermes-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** What a finished CLI run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode runHermes}. */
export interface RunOptions {
  /** `HERMES_HOME` for the run. */
  home: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working folder (default: the repository root). */
  cwd?: string;
  /** The program to run instead of `cli/main.ts`, e.g. the bundle. */
  entry?: string;
  /** What the program reads on standard input (default: nothing, stdin closed). */
  stdin?: string;
}

/**
 * Runs `hermes ARGS` as a subprocess with the `hermes` task's permissions and
 * a clean environment (only PATH, HOME, DENO_DIR, NO_COLOR and `env`).
 */
export async function runHermes(args: string[], options: RunOptions): Promise<CliResult> {
  const env: Record<string, string> = { HERMES_HOME: options.home, NO_COLOR: "1", ...options.env };
  for (const name of ["PATH", "HOME", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined && !(name in env)) env[name] = value;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...cliRunFlags(), options.entry ?? `${ROOT}cli/main.ts`, ...args],
    cwd: options.cwd ?? ROOT,
    env,
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Spawns `deno run -A ARGS` and waits for the first line it prints (a helper
 * saying it is ready). The caller kills the child.
 */
export async function spawnUntilFirstLine(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  await child.stdout.cancel();
  return { child, said: new TextDecoder().decode(value).trim() };
}

/** Whether process `pid` has exited: reaped, or a zombie (state Z in /proc/PID/stat). */
export function processGone(pid: number): boolean {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
  // The command name may hold spaces and parentheses; the state follows the last ")".
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}
