/**
 * `hermes send PLATFORM:CHAT_ID TEXT`: hands a message to the running
 * gateway over its control socket. The gateway stores it in the outbox like a
 * reply (so it is retried, deferred or reported like one) and answers once
 * its first part was sent, deferred, failed or given up; this command prints
 * that as one line. It never connects to a platform itself.
 *
 * @module
 */

import type { CliCommand } from "./command.ts";
import type { HermesPaths } from "../lib/config/home.ts";
import { HermesError, UsageError } from "../lib/errors.ts";
import type { SendAnswer } from "../lib/gateway/operator_send.ts";
import { ExitCode } from "../lib/process/exit_codes.ts";
import type { OutboxPart } from "../lib/storage/state_store.ts";
import { openHome } from "./context.ts";
import type { CliIo } from "./io.ts";

const USAGE = 'hermes send local:alice "The backup finished"';
/** Beyond the gateway's own wait for the first part's try. */
const ANSWER_MARGIN_MS = 5_000;

/** Adds the `send` command to `program`. */
export function registerSendCommand(program: CliCommand, io: CliIo): void {
  program.command("send")
    .description(
      "Send a message to a chat through the running gateway (queued, retried and deferred like a reply)",
    )
    .argument("<target>", "PLATFORM:CHAT_ID, split at the first colon (local:alice)")
    .argument("<text>", "the message; - reads it from standard input")
    .option("--format <format>", "how TEXT is written (default plain)", ["plain", "markdown"])
    .option("--json", "print the message's outbox rows")
    .action(async (target, text, options, command) => {
      const { parseTarget, SEND_WAIT_MS } = await import("../lib/gateway/operator_send.ts");
      parseTarget(target); // a bad target is refused before anything is read or asked
      const message = text === "-" ? (await io.readStdin()).replace(/\r?\n$/, "") : text;
      if (message.trim() === "") {
        throw new UsageError(
          text === "-" ? "Cannot send an empty message: standard input was empty" : (
            "Cannot send an empty message"
          ),
          USAGE,
        );
      }
      const { paths } = await openHome(io, command);
      const params = {
        target,
        text: message,
        ...(options.format ? { format: options.format } : {}),
      };
      await checkSize(params);
      const answer = await ask(paths, params, SEND_WAIT_MS + ANSWER_MARGIN_MS);
      const { line, exitCode } = describeSend(answer);
      io.out(options.json ? `${JSON.stringify(answer.parts, null, 2)}\n` : `${line}\n`);
      io.exitCode = exitCode;
    });
}

/**
 * What a `send` answer means, as one line and the exit code: `sent` (0),
 * `queued: ...` (0: deferred, retrying or waiting) or `undeliverable: ...` (1).
 *
 * @example
 * ```ts
 * describeSend({ parts: [part], connected: true, heldBy: null }); // { line: "sent: m-7", exitCode: 0 }
 * ```
 */
export function describeSend(answer: SendAnswer): { line: string; exitCode: number } {
  const first = answer.parts[0];
  if (!first) throw new Error("The gateway answered `send` without parts");
  const queued = (why: string) => ({ line: `queued: ${why}`, exitCode: ExitCode.Ok });
  switch (first.state) {
    case "sent":
      return { line: sentLine(answer.parts), exitCode: ExitCode.Ok };
    case "undeliverable":
      return { line: `undeliverable: ${failure(first)}`, exitCode: ExitCode.Crash };
    case "failed":
      return queued(
        `will retry at ${first.notBefore ?? "once the link is back"} (${failure(first)})`,
      );
    case "deferred":
      return first.waitingForInbound
        ? queued("waiting for the chat's next message")
        : queued(`deferred until ${first.notBefore} (${first.lastError ?? "no reason given"})`);
    case "queued":
    case "sending":
      return queued(waitingFor(first, answer));
  }
}

function sentLine(parts: readonly OutboxPart[]): string {
  const sent = parts.filter((p) => p.state === "sent");
  const ids = sent.map((p) => p.platformMessageId).filter(Boolean).join(", ");
  const rest = sent.length < parts.length
    ? ` (${sent.length} of ${parts.length} parts so far)`
    : "";
  return `sent${ids ? `: ${ids}` : ""}${rest}`;
}

function failure(part: OutboxPart): string {
  return `${part.lastCode ?? "error"}: ${part.lastError ?? "no reason given"}`;
}

/** Why the first part has not been tried yet. */
function waitingFor(part: OutboxPart, answer: SendAnswer): string {
  if (!answer.connected) return `waiting for ${part.platform} to connect`;
  const held = answer.heldBy;
  if (held?.state === "deferred" && held.waitingForInbound) {
    return "waiting for the chat's next message (behind an earlier reply)";
  }
  if (held?.state === "failed" && held.notBefore) {
    return `behind an earlier reply that will be retried at ${held.notBefore}`;
  }
  return part.state === "sending" ? "being sent" : "not tried yet; it goes out shortly";
}

/** Asks the gateway; no gateway, or one that does not answer, is said in one line. */
async function ask(
  paths: HermesPaths,
  params: Record<string, string>,
  timeoutMs: number,
): Promise<SendAnswer> {
  const { callControl, ControlRefusal } = await import("../lib/gateway/control_client.ts");
  try {
    return await callControl(paths.controlSocket, "send", params, { timeoutMs }) as SendAnswer;
  } catch (error) {
    if (error instanceof ControlRefusal && error.reason === "usage") {
      throw new UsageError(error.detail, error.hint, { cause: error });
    }
    if (!(error instanceof HermesError) || error.code !== "control_unavailable") throw error;
    const { findRunningGateway } = await import("../lib/process/running_gateway.ts");
    const { running } = findRunningGateway(paths);
    if (!running) {
      throw new HermesError(
        "gateway_not_running",
        `No gateway is running in ${paths.home}: start it with "hermes gateway run", then send again`,
        { cause: error },
      );
    }
    throw new HermesError(
      "gateway_not_answering",
      `The gateway (PID ${running.pid}) in ${paths.home} did not answer: ${error.message}`,
      { cause: error, hints: ["hermes gateway status shows what it is doing"] },
    );
  }
}

/** The control socket takes requests of at most MAX_REQUEST_BYTES; say so before sending. */
async function checkSize(params: Record<string, string>): Promise<void> {
  const { MAX_REQUEST_BYTES } = await import("../lib/gateway/control_server.ts");
  const request = JSON.stringify({ id: 1, method: "send", params });
  const bytes = new TextEncoder().encode(request).length;
  if (bytes > MAX_REQUEST_BYTES) {
    throw new UsageError(
      `Cannot send ${bytes} bytes: the control socket takes at most ${MAX_REQUEST_BYTES} a request`,
      "send a long text as several messages",
    );
  }
}
