/**
 * Exit codes are a contract with service managers (systemd, launchd) and
 * scripts: each value below means one thing, everywhere in hermes.
 *
 * @module
 */

/**
 * The exit codes hermes uses.
 *
 * @example
 * ```ts
 * Deno.exit(ExitCode.Config); // 78: do not restart, fix the config first
 * ```
 */
export const ExitCode = {
  /** Planned stop, replaced by a newer gateway, or a command that succeeded. */
  Ok: 0,
  /** Something unexpected failed (a crash). */
  Crash: 1,
  /** The command line was wrong. */
  Usage: 2,
  /** EX_TEMPFAIL: stopped for a reason that a restart fixes; supervisors revive it. */
  Restart: 75,
  /** EX_CONFIG: the configuration is invalid; restarting will not help. */
  Config: 78,
  /** 128 + SIGINT: a command the user stopped with Ctrl-C before it was done. */
  Interrupted: 130,
} as const;

/** One of the values of {@linkcode ExitCode}. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];
