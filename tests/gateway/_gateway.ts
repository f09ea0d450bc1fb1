/**
 * Runs `hermes gateway ...` as a long-lived subprocess for lifecycle tests:
 * real process, real signals, a temporary home.
 *
 * @module
 */

import { cliRunFlags } from "../../scripts/permissions.ts";
import { readRuntimeStatus } from "../../lib/process/runtime_status.ts";
import { hermesPaths } from "../../lib/config/home.ts";
import { ROOT } from "../_helpers.ts";

/** A gateway (or other hermes command) running in the background. */
export interface BackgroundHermes extends AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number>;
}

/** The environment every test subprocess gets. */
export function testEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    HERMES_HOME: home,
    HERMES_GATEWAY_LOCK_DIR: `${home}/locks`,
    NO_COLOR: "1",
    // Any free port: tests never collide with each other or a real gateway.
    LOCAL_PORT: "0",
    ...extra,
  };
  for (const name of ["PATH", "HOME", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined && !(name in env)) env[name] = value;
  }
  return env;
}

/** Options of {@linkcode startInBackground}. */
export interface BackgroundOptions {
  /**
   * Its own process group (and session), as a terminal runs a program: a
   * signal to `-pid` reaches everything it started; dispose kills the group.
   */
  readonly ownGroup?: boolean;
  /** Runs it in this network namespace (`ip netns exec`, which keeps the PID). */
  readonly netns?: string;
}

/** Starts `deno ARGS` (from the repository root, with {@linkcode testEnv}) in the background. */
export function startInBackground(
  denoArgs: string[],
  home: string,
  env: Record<string, string> = {},
  options: BackgroundOptions = {},
): BackgroundHermes {
  const child = new Deno.Command(options.netns ? "ip" : Deno.execPath(), {
    args: options.netns ? ["netns", "exec", options.netns, Deno.execPath(), ...denoArgs] : denoArgs,
    cwd: ROOT,
    env: testEnv(home, env),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    detached: options.ownGroup === true,
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const reading = child.stderr.pipeTo(
    new WritableStream({ write: (chunk) => void (text += decoder.decode(chunk)) }),
  );
  const exited = Promise.all([child.status, reading]).then(([status]) => status.code);
  return {
    child,
    pid: child.pid,
    stderr: () => text,
    exited,
    async [Symbol.asyncDispose]() {
      try {
        if (options.ownGroup) Deno.kill(-child.pid, "SIGKILL");
        else child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await exited;
    },
  };
}

/** Starts `hermes ARGS` in the background (default: `gateway run`). */
export function startHermes(
  home: string,
  args: string[] = ["gateway", "run"],
  env: Record<string, string> = {},
  options: BackgroundOptions = {},
): BackgroundHermes {
  return startInBackground(
    ["run", ...cliRunFlags(), `${ROOT}cli/main.ts`, ...args],
    home,
    env,
    options,
  );
}

/** Polls `check` every 20 ms until it is true; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!await check()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until gateway_state.json says `pid` is running. */
export async function waitRunning(home: string, pid: number, timeoutMs?: number): Promise<void> {
  const path = hermesPaths(home).runtimeStatus;
  await waitFor(`gateway ${pid} to be running`, () => {
    const status = readRuntimeStatus(path);
    return status?.pid === pid && status.gateway_state === "running";
  }, timeoutMs);
}

/** Starts a gateway and waits until it is running. */
export async function startGateway(
  home: string,
  env: Record<string, string> = {},
  options: BackgroundOptions = {},
): Promise<BackgroundHermes> {
  const gateway = startHermes(home, ["gateway", "run"], env, options);
  await Promise.race([
    waitRunning(home, gateway.pid),
    gateway.exited.then((code) => {
      throw new Error(`gateway exited ${code} before running: ${gateway.stderr()}`);
    }),
  ]);
  return gateway;
}
