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
 * Stopping a turn sends SIGTERM to the program.
 *
 * @module
 */

import { type Agent, AgentError, type AgentTurn } from "./agent.ts";

/** How to run the program. */
export interface CommandAgentOptions {
  /** Program and arguments, e.g. `["python3", "bot.py"]`. */
  readonly argv: readonly string[];
  /** Longest wait for the program's next line. */
  readonly timeoutMs: number;
  /** Extra environment for the program. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Runs a program per turn and streams its `delta` lines.
 *
 * @example
 * ```ts
 * const agent = new CommandAgent({ argv: ["python3", "bot.py"], timeoutMs: 120_000 });
 * ```
 */
export class CommandAgent implements Agent {
  readonly provider = "command";
  readonly description: string;
  readonly #options: CommandAgentOptions;

  constructor(options: CommandAgentOptions) {
    if (options.argv.length === 0) throw new Error("Cannot create a command agent: argv is empty");
    this.#options = options;
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
        env: this.#options.env ? { ...this.#options.env } : undefined,
      }).spawn();
    } catch (error) {
      throw new AgentError(
        `cannot run the agent program "${program}": ${(error as Error).message}`,
      );
    }
    const kill = () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
    };
    turn.signal.addEventListener("abort", kill, { once: true });
    const stderr = new Response(child.stderr).text();
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, this.#options.timeoutMs);
    };
    try {
      arm();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(JSON.stringify(turnLine(turn)) + "\n"))
        .catch(() => {});
      await writer.close().catch(() => {});
      let failure: string | undefined;
      for await (const line of lines(child.stdout)) {
        arm();
        if (!line.trim()) continue;
        let parsed: { delta?: unknown; error?: unknown };
        try {
          parsed = JSON.parse(line);
        } catch {
          failure = `the agent program wrote a line that is not JSON: ${line.slice(0, 100)}`;
          kill();
          break;
        }
        if (typeof parsed.delta === "string" && parsed.delta) yield parsed.delta;
        if (typeof parsed.error === "string") failure = parsed.error;
      }
      const status = await child.status;
      if (turn.signal.aborted) return;
      if (timedOut) {
        throw new AgentError(
          `the agent program sent nothing for ${this.#options.timeoutMs / 1000} s`,
        );
      }
      if (failure) throw new AgentError(failure);
      if (!status.success) {
        const last = (await stderr).trim().split("\n").at(-1) ?? "";
        throw new AgentError(
          `the agent program exited with code ${status.code}${
            last ? `: ${last.slice(0, 200)}` : ""
          }`,
        );
      }
    } finally {
      clearTimeout(timer);
      turn.signal.removeEventListener("abort", kill);
      kill();
      await child.status;
      await stderr.catch(() => "");
    }
  }
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

async function* lines(stream: ReadableStream<Uint8Array>): AsyncIterable<string> {
  let buffer = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffer += text;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
  }
  if (buffer) yield buffer;
}
