/**
 * Why a gateway stops, and the exit code that tells its supervisor what to
 * do: 0 for planned stops and replacements (stay down), 75 for a restart or
 * an unexpected termination (revive me).
 *
 * @module
 */

import { ExitCode } from "../process/exit_codes.ts";

/** The reasons a gateway stops on request. */
export type StopReason = "replaced" | "stopped" | "interrupted" | "terminated" | "restart";

/** A request to stop: its reason, exit code and a line for the log and status. */
export interface StopRequest {
  readonly reason: StopReason;
  readonly exitCode: number;
  readonly detail: string;
}

/**
 * The stop request for each reason.
 *
 * @example
 * ```ts
 * STOP_REQUESTS.terminated.exitCode; // 75
 * ```
 */
export const STOP_REQUESTS: Readonly<Record<StopReason, StopRequest>> = {
  replaced: {
    reason: "replaced",
    exitCode: ExitCode.Ok,
    detail: "replaced by a new gateway (SIGTERM with a takeover marker)",
  },
  stopped: {
    reason: "stopped",
    exitCode: ExitCode.Ok,
    detail: "planned stop (hermes gateway stop)",
  },
  interrupted: { reason: "interrupted", exitCode: ExitCode.Ok, detail: "interrupted (SIGINT)" },
  terminated: {
    reason: "terminated",
    exitCode: ExitCode.Restart,
    detail: "terminated by SIGTERM without a stop marker; asking to be restarted",
  },
  restart: {
    reason: "restart",
    exitCode: ExitCode.Restart,
    detail: "graceful restart requested; exiting 75 for the supervisor to start it again",
  },
};
