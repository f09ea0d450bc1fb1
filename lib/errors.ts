/**
 * The few error classes hermes throws on purpose. Programmer errors use the
 * built-in classes; these carry a stable `code` and the exit code the CLI's
 * error boundary maps them to.
 *
 * @module
 */

import { ExitCode } from "./process/exit_codes.ts";

/**
 * Base class of every deliberate hermes error.
 *
 * @example
 * ```ts
 * throw new HermesError("store_locked", "Cannot open state.db: it is locked");
 * ```
 */
export class HermesError extends Error {
  /** A stable, machine-readable identifier such as `config_invalid`. */
  readonly code: string;
  /** The process exit code the CLI uses when this error ends a command. */
  readonly exitCode: number = ExitCode.Crash;
  /** Ways forward, printed as `hint:` lines under the message. */
  readonly hints: readonly string[];

  constructor(
    code: string,
    message: string,
    options?: ErrorOptions & { hints?: readonly string[]; exitCode?: number },
  ) {
    super(message, options);
    this.name = "HermesError";
    this.code = code;
    this.hints = options?.hints ?? [];
    if (options?.exitCode !== undefined) this.exitCode = options.exitCode;
  }
}

/**
 * The user typed something the CLI cannot act on. Printed without a stack,
 * with `hint` on a second line; exit code 2.
 */
export class UsageError extends HermesError {
  /** A suggestion of what to type instead, such as "did you mean 'config'?". */
  readonly hint: string | undefined;
  override readonly exitCode: number = ExitCode.Usage;

  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super("usage", message, options);
    this.name = "UsageError";
    this.hint = hint;
  }
}

/**
 * The configuration cannot be loaded or is invalid. Exit code 78 tells a
 * service manager not to restart: nothing changes until an operator edits it.
 */
export class ConfigError extends HermesError {
  override readonly exitCode: number = ExitCode.Config;

  constructor(message: string, options?: ErrorOptions) {
    super("config_invalid", message, options);
    this.name = "ConfigError";
  }
}

/**
 * A platform refused a request: who said no (`platform`), its own `code`,
 * whether trying again can help (`retryable`), and when at the earliest
 * (`retryAfterMs`, a 429's Retry-After). Adapters throw it from `send` and
 * `edit`; the outbox retries or gives up on it.
 *
 * @example
 * ```ts
 * throw new PlatformError("Too Many Requests: retry after 3", {
 *   platform: "telegram",
 *   code: "429",
 *   retryable: true,
 *   retryAfterMs: 3_000,
 * });
 * ```
 */
export class PlatformError extends HermesError {
  readonly platform: string;
  /** The platform's own error code (`429`, `846609`, ...). */
  readonly platformCode: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    details: {
      platform: string;
      code: string | number;
      retryable: boolean;
      retryAfterMs?: number;
      cause?: unknown;
    },
  ) {
    super("platform_error", message, { cause: details.cause });
    this.name = "PlatformError";
    this.platform = details.platform;
    this.platformCode = String(details.code);
    this.retryable = details.retryable;
    this.retryAfterMs = details.retryAfterMs;
  }
}
