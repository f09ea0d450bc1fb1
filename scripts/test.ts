/**
 * `deno task test`: makes sure the browser test has a browser, then runs
 * every test. When no Chromium or Chrome is found and `apt-get` can be used
 * (as root, or with sudo that needs no password), Debian's `chromium` is
 * installed first; elsewhere it stops with one line naming what to install.
 * tmux (the terminal of `hermes weixin login`'s test) is installed the same
 * way when missing, or the run stops naming it; so is PostgreSQL's server
 * (Debian's `postgresql`: the storage tests start a throwaway server from
 * its programs as an unprivileged user). Arguments are passed on to
 * `deno test`.
 *
 * @module
 */

import { findBrowser } from "./browser.ts";
import { findPostgresBin } from "./postgres_bin.ts";

const INSTALL_HINT =
  "install Chromium or Chrome (Debian/Ubuntu: apt-get install chromium; macOS: brew install --cask chromium) or set CHROME_PATH, then run again";

/** Runs a command; resolves with its exit code and its combined output. */
async function run(program: string, args: string[], env: Record<string, string> = {}) {
  try {
    const output = await new Deno.Command(program, { args, env, stdin: "null" }).output();
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    return { code: output.code, text };
  } catch (error) {
    return { code: 127, text: (error as Error).message };
  }
}

/** The prefix that runs apt-get with root rights here, or undefined when nothing can. */
async function aptPrefix(): Promise<string[] | undefined> {
  if ((await run("apt-get", ["--version"])).code !== 0) return undefined;
  if (Deno.uid() === 0) return [];
  return (await run("sudo", ["-n", "true"])).code === 0 ? ["sudo", "-n"] : undefined;
}

/** Installs a Debian package (after `apt-get update`); says why not when it cannot. */
async function aptInstall(prefix: string[], name: string): Promise<void> {
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const apt = (args: string[]) => {
    const [program, ...rest] = [...prefix, "apt-get", ...args];
    return run(program!, rest, env);
  };
  const update = await apt(["update", "-qq"]);
  const install = update.code === 0
    ? await apt(["install", "-y", "-qq", "--no-install-recommends", name])
    : update;
  if (install.code !== 0) {
    const tail = install.text.trim().split("\n").slice(-3).join(" | ");
    console.error(`Cannot install ${name} with apt-get (exit ${install.code}): ${tail}`);
  }
}

async function installChromium(prefix: string[]): Promise<void> {
  console.error("No Chromium or Chrome found: installing Debian's chromium for the browser test");
  await aptInstall(prefix, "chromium");
}

let browser = findBrowser();
if (!browser) {
  const prefix = await aptPrefix();
  if (prefix) {
    await installChromium(prefix);
    browser = findBrowser();
  }
}
if (!browser) {
  console.error(`Cannot run the browser test: no Chromium or Chrome was found; ${INSTALL_HINT}`);
  Deno.exit(1);
}

if ((await run("tmux", ["-V"])).code !== 0) {
  const prefix = await aptPrefix();
  if (prefix) {
    console.error("No tmux found: installing Debian's tmux for the real-terminal login test");
    await aptInstall(prefix, "tmux");
  }
  if ((await run("tmux", ["-V"])).code !== 0) {
    console.error(
      "Cannot run the terminal test of hermes weixin login: no tmux was found; install it (apt-get install tmux)",
    );
    Deno.exit(1);
  }
}

if (!findPostgresBin()) {
  const prefix = await aptPrefix();
  if (prefix) {
    console.error(
      "No PostgreSQL server found: installing Debian's postgresql for the storage tests",
    );
    await aptInstall(prefix, "postgresql");
  }
  if (!findPostgresBin()) {
    console.error(
      "Cannot run the PostgreSQL storage tests: no initdb, pg_ctl and postgres were found; install PostgreSQL (apt-get install postgresql)",
    );
    Deno.exit(1);
  }
}

const tests = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--no-prompt", ...(Deno.args.length ? Deno.args : ["tests/"])],
  env: { CHROME_PATH: browser },
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
Deno.exit((await tests.status).code);
