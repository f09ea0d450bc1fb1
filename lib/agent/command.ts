/**
 * The `command` agent: runs a configured program once per turn. hermes writes
 * one JSON line to its stdin and closes it:
 *
 *   {"type":"turn","session":"agent:main:local:dm:alice","platform":"local",
 *    "chat_type":"dm","chat_id":"alice","user_id":"alice",
 *    "history":[{"role":"user","content":"hello"}]}
 *
 * and reads JSON lines from its stdout: `{"delta":"text"}` (shown as it
 * arrives) and optionally `{"error":"why"}`. A non-zero exit fails the turn.
 *
 * The program gets a clean environment (see {@linkcode programEnvironment})
 * and runs in a process group of its own. Ending a turn early (a stop, the
 * timeout, a line that is not JSON, a reader that stops reading) sends SIGTERM
 * to that group, then SIGKILL after the grace period.
 *
 * @module
 */

import { readTail } from "../util/read_tail.ts";
import { type Agent, AgentError, type AgentTurn } from "./agent.ts";

/**
 * How much of the program's stderr is kept, from its end, for the error of a
 * failed turn: a program may write without limit there, so the rest is read
 * and dropped.
 */
export const STDERR_TAIL_CHARS = 4096;
/** Longest stdout line taken: a program that writes more without a newline fails the turn. */
export const MAX_LINE_CHARS = 1024 * 1024;

/** Variables every program gets from the gateway's environment when set, besides each `LC_*`. */
const BASE_VARIABLES: readonly string[] = ["PATH", "HOME", "LANG", "TZ", "TMPDIR"];

/** How to run the program. */
export interface CommandAgentOptions {
  /** Program and arguments, e.g. `["python3", "bot.py"]`. */
  readonly argv: readonly string[];
  /** Longest wait for the program's next line. */
  readonly timeoutMs: number;
  /** The gateway's environment, which the program's is picked from (usually `Deno.env.toObject()`). */
  readonly environment: Readonly<Record<string, string | undefined>>;
  /** Names of further variables of `environment` the program gets (`agent.env`). */
  readonly passEnv?: readonly string[];
  /** Variables set for the program on top of the picked ones. */
  readonly env?: Readonly<Record<string, string>>;
  /** Time a stopped program has after SIGTERM before its process group gets SIGKILL; default 5 s. */
  readonly killGraceMs?: number;
}

/**
 * The environment of the program: PATH, HOME, LANG, every LC_*, TZ and
 * TMPDIR, the names in `passEnv`, each only when set in `environment`, and
 * then `env`. Bot tokens and API keys of the gateway stay out.
 *
 * @example
 * ```ts
 * programEnvironment({
 *   environment: { PATH: "/usr/bin", OPENAI_API_KEY: "sk-1", MY_MODEL_DIR: "/srv/models" },
 *   passEnv: ["MY_MODEL_DIR"],
 * }); // { PATH: "/usr/bin", MY_MODEL_DIR: "/srv/models" }
 * ```
 */
export function programEnvironment(
  options: Pick<CommandAgentOptions, "environment" | "passEnv" | "env">,
): Record<string, string> {
  const passed = new Set([...BASE_VARIABLES, ...options.passEnv ?? []]);
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.environment)) {
    if (value !== undefined && (passed.has(name) || name.startsWith("LC_"))) picked[name] = value;
  }
  return { ...picked, ...options.env };
}

/**
 * Runs a program per turn and streams its `delta` lines.
 *
 * @example
 * ```ts
 * const agent = new CommandAgent({
 *   argv: ["python3", "bot.py"],
 *   timeoutMs: 120_000,
 *   environment: Deno.env.toObject(),
 *   passEnv: ["MY_MODEL_DIR"],
 *   killGraceMs: 5_000,
 * });
 * ```
 */
export class CommandAgent implements Agent {
  readonly provider = "command";
  readonly description: string;
  readonly #options: CommandAgentOptions;
  readonly #killGraceMs: number;

  constructor(options: CommandAgentOptions) {
    if (options.argv.length === 0) throw new Error("Cannot create a command agent: argv is empty");
    const killGraceMs = options.killGraceMs ?? 5_000;
    if (!(killGraceMs > 0)) {
      throw new RangeError(
        `Cannot create a command agent with killGraceMs ${killGraceMs}: it must be positive`,
      );
    }
    this.#options = options;
    this.#killGraceMs = killGraceMs;
    this.description = `command ${options.argv.join(" ")}`;
  }

  async *run(turn: AgentTurn): AsyncIterable<string> {
    const [program, ...args] = this.#options.argv;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program!, {
        args,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        clearEnv: true,
        env: programEnvironment(this.#options),
        // setsid: a Ctrl-C to the gateway's terminal does not reach the program,
        // and a stop reaches the program's own children too.
        detached: true,
      }).spawn();
    } catch (error) {
      throw new AgentError(`cannot run the agent program "${program}"`, {
        detail: (error as Error).message,
      });
    }
    const group = processGroup(child, this.#killGraceMs);
    const stdout = child.stdout.getReader();
    const stderrReader = child.stderr.getReader();
    const stderr = readTail(stderrReader, STDERR_TAIL_CHARS);
    // Cancelling the reader ends the loop below at once, even when a process
    // outside the group still holds the pipe open.
    const stop = () => {
      group.stop();
      stdout.cancel().catch(() => {});
    };
    turn.signal.addEventListener("abort", stop, { once: true });
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        stop();
        stderrReader.cancel().catch(() => {});
      }, this.#options.timeoutMs);
    };
    try {
      arm();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(JSON.stringify(turnLine(turn)) + "\n"))
        .catch(() => {});
      await writer.close().catch(() => {});
      let failure: string | undefined;
      let failureDetail: string | undefined;
      for await (const line of lines(stdout, MAX_LINE_CHARS)) {
        if (turn.signal.aborted) break;
        if (line === TOO_LONG) {
          failure = `the agent program wrote a line over ${MAX_LINE_CHARS} characters: ` +
            "end each JSON line with a newline";
          group.stop();
          break;
        }
        arm();
        if (!line.trim()) continue;
        let parsed: { delta?: unknown; error?: unknown };
        try {
          parsed = JSON.parse(line);
        } catch {
          failure = "the agent program wrote a line that is not JSON";
          failureDetail = line.slice(0, 200);
          group.stop();
          break;
        }
        if (typeof parsed.delta === "string" && parsed.delta) yield parsed.delta;
        if (typeof parsed.error === "string") failure = parsed.error;
      }
      const status = await group.status;
      if (turn.signal.aborted) return;
      if (timedOut) {
        throw new AgentError(
          `the agent program sent nothing for ${this.#options.timeoutMs / 1000} s`,
        );
      }
      if (failure) throw new AgentError(failure, { detail: failureDetail });
      if (!status.success) {
        // Its stderr goes to the log only: a traceback may hold a key or a prompt.
        const last = (await stderr).trim().split("\n").at(-1) ?? "";
        throw new AgentError(`the agent program exited with code ${status.code}`, {
          detail: last.slice(0, 2_000),
        });
      }
    } finally {
      clearTimeout(timer);
      turn.signal.removeEventListener("abort", stop);
      // Also when the reader stopped early: the program must not outlive its turn.
      group.stop();
      await group.status;
      await stdout.cancel().catch(() => {});
      await stderrReader.cancel().catch(() => {});
      await stderr;
    }
  }
}

/**
 * The detached child's process group. `stop` sends SIGTERM to the group, then
 * SIGKILL when the program has not exited within the grace period. `status`
 * resolves once the program has exited; then anything left in its group is
 * killed, so that no helper of the program outlives the turn or keeps its
 * pipes open.
 */
function processGroup(child: Deno.ChildProcess, graceMs: number) {
  let exited = false;
  let stopping = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const signal = (name: Deno.Signal) => {
    try {
      Deno.kill(-child.pid, name);
    } catch {
      try {
        child.kill(name);
      } catch {
        // already exited
      }
    }
  };
  const status = child.status.then((status) => {
    exited = true;
    clearTimeout(grace);
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch {
      // the group is empty
    }
    return status;
  });
  return {
    status,
    stop() {
      if (exited || stopping) return;
      stopping = true;
      signal("SIGTERM");
      grace = setTimeout(() => signal("SIGKILL"), graceMs);
    },
  };
}

function turnLine(turn: AgentTurn): Record<string, unknown> {
  return {
    type: "turn",
    session: turn.sessionKey,
    platform: turn.source.platform,
    chat_type: turn.source.chatType,
    chat_id: turn.source.chatId,
    thread_id: turn.source.threadId ?? null,
    user_id: turn.source.userId ?? null,
    history: turn.history,
  };
}

/** What {@linkcode lines} yields, last, for a line longer than its limit. */
const TOO_LONG = Symbol("too long");

async function* lines(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  maxChars: number,
): AsyncIterable<string | typeof TOO_LONG> {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0 && newline <= maxChars) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
    // Without this, a program writing without newlines would be held in memory whole.
    if (newline > maxChars || buffer.length > maxChars) {
      yield TOO_LONG;
      return;
    }
    if (done) break;
  }
  if (buffer) yield buffer;
}
