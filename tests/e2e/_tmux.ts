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
  readonly #dir: string;
  readonly #env: Record<string, string>;

  /** `dir` holds the configuration file; `env` is the whole environment of the programs run. */
  constructor(dir: string, env: Record<string, string>) {
    this.#dir = dir;
    this.#config = `${dir}/tmux.conf`;
    Deno.writeTextFileSync(this.#config, "set -g remain-on-exit on\nset -g history-limit 10000\n");
    this.#env = env;
  }

  /** Starts `argv` in a new detached session `name` of `width` × `height` characters. */
  async run(name: string, argv: string[], size = { width: 80, height: 50 }): Promise<void> {
    // The shell writes the program's exit code to a file when it ends (tmux's own
    // pane_dead_status is sometimes empty for a moment, or for good, after the pane dies).
    const command = `${argv.map(quote).join(" ")}; echo $? > ${quote(this.#statusFile(name))}`;
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

  #statusFile(name: string): string {
    return `${this.#dir}/${name}.exit`;
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
    const text = await Deno.readTextFile(this.#statusFile(name)).catch(() => "");
    return /^\d+\s*$/.test(text) ? Number(text.trim()) : undefined;
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
