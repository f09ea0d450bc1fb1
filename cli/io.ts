/**
 * What a CLI command touches outside itself: output streams, the environment,
 * the secret masker and the exit code. `main()` makes the real one.
 *
 * @module
 */

import { SecretMasker } from "../lib/util/secret_mask.ts";
import { writeAllSync } from "../lib/util/write_all.ts";

/** The CLI's side effects, passed to every command. */
export interface CliIo {
  /** Writes text to standard output, secrets masked. */
  out(text: string): void;
  /** Writes text to standard error, secrets masked. */
  err(text: string): void;
  /** The process environment. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Masks secrets in everything written; commands add the secrets they load. */
  readonly masker: SecretMasker;
  /** Whether standard error is a terminal (human log lines, colour). */
  readonly stderrIsTerminal: boolean;
  /** Whether standard output is a terminal (a QR code to scan); unset means no. */
  readonly stdoutIsTerminal?: boolean;
  /** The terminal's width when standard output is one (help wraps to it); unset means 80. */
  readonly columns?: number;
  /** Reads standard input to its end (`hermes send TARGET -`). */
  readStdin(): Promise<string>;
  /** The exit code `main()` returns when no error ends the command. */
  exitCode: number;
}

/** The real `CliIo`: the process's stdout, stderr and environment. */
export function processIo(): CliIo {
  const encoder = new TextEncoder();
  const masker = new SecretMasker();
  return {
    out: (text) => writeAllSync(Deno.stdout, encoder.encode(masker.mask(text))),
    err: (text) => writeAllSync(Deno.stderr, encoder.encode(masker.mask(text))),
    env: Deno.env.toObject(),
    masker,
    stderrIsTerminal: Deno.stderr.isTerminal(),
    stdoutIsTerminal: Deno.stdout.isTerminal(),
    columns: Deno.stdout.isTerminal() ? Deno.consoleSize().columns : undefined,
    readStdin: () => new Response(Deno.stdin.readable).text(),
    exitCode: 0,
  };
}
