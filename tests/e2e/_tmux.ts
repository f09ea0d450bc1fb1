/**
 * A real terminal for CLI tests: a tmux server of the test's own (its own
 * socket and configuration, so a user's tmux is never touched) whose
 * sessions run one program each. Panes stay after their program exits, so
 * the test reads the program's exit code and its last screen.
 *
 * @module
 */

/** A private tmux server; `await using` kills it (and what still runs in it). */
export class Tmux implements AsyncDisposable {
  readonly #socket = `hermes-test-${crypto.randomUUID().slice(0, 8)}`;
  readonly #config: string;
  readonly #env: Record<string, string>;

  /** `dir` holds the configuration file; `env` is the whole environment of the programs run. */
  constructor(dir: string, env: Record<string, string>) {
    this.#config = `${dir}/tmux.conf`;
    Deno.writeTextFileSync(this.#config, "set -g remain-on-exit on\nset -g history-limit 10000\n");
    this.#env = env;
  }

  /** Starts `argv` in a new detached session `name` of `width` × `height` characters. */
  async run(name: string, argv: string[], size = { width: 80, height: 50 }): Promise<void> {
    // exec: the pane's process is the program itself, so Ctrl-C and the exit code are its own.
    const command = `exec ${argv.map(quote).join(" ")}`;
    await this.#tmux([
      "new-session",
      "-d",
      "-s",
      name,
      "-x",
      String(size.width),
      "-y",
      String(size.height),
      command,
    ]);
  }

  /** The pane's text, history included: wrapped lines joined, or with colours (`-e`) and trailing spaces. */
  async capture(name: string, options: { colours?: boolean } = {}): Promise<string> {
    const flags = options.colours ? ["-e", "-N"] : ["-J"];
    return await this.#tmux(["capture-pane", "-p", ...flags, "-S", "-", "-t", name]);
  }

  /** Types keys into the pane, e.g. `C-c`. */
  async sendKeys(name: string, ...keys: string[]): Promise<void> {
    await this.#tmux(["send-keys", "-t", name, ...keys]);
  }

  /** The program's exit code once it exited; undefined while it runs. */
  async exitCode(name: string): Promise<number | undefined> {
    const [dead, status] = (await this.#tmux([
      "display-message",
      "-p",
      "-t",
      name,
      "#{pane_dead} #{pane_dead_status}",
    ])).trim().split(" ");
    return dead === "1" ? Number(status) : undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#tmux(["kill-server"]).catch(() => {});
  }

  async #tmux(args: string[]): Promise<string> {
    const output = await new Deno.Command("tmux", {
      args: ["-L", this.#socket, "-f", this.#config, ...args],
      env: this.#env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    if (!output.success) {
      throw new Error(
        `tmux ${args[0]} failed (exit ${output.code}): ${decoder.decode(output.stderr).trim()}`,
      );
    }
    return decoder.decode(output.stdout);
  }
}

function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
