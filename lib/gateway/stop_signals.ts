/**
 * Turns signals into stop requests. SIGTERM reads the takeover and
 * planned-stop markers to tell a planned stop (exit 0) from an unexpected
 * termination (exit 75); SIGINT is a planned stop; SIGUSR1 is a graceful
 * restart (exit 75).
 *
 * @module
 */

import type { HermesPaths } from "../config/home.ts";
import { consumeMarker, type MarkerTarget } from "../process/markers.ts";
import { STOP_REQUESTS, type StopRequest } from "./stop_request.ts";

/**
 * Listens for SIGTERM, SIGINT and SIGUSR1 (where the system has it) and
 * passes each as a stop request to `onStop`. Dispose to stop listening.
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * import { currentPidRecord } from "../process/pid_record.ts";
 * import type { Gateway } from "./gateway.ts";
 * declare const gateway: Gateway;
 * const paths = hermesPaths("/srv/hermes");
 * const { pid, start_time } = currentPidRecord(paths.home);
 * const self = { pid, startTime: start_time, home: paths.home };
 * using _signals = listenForStopSignals(paths, self, (request) => gateway.requestStop(request));
 * ```
 */
export function listenForStopSignals(
  paths: HermesPaths,
  self: MarkerTarget,
  onStop: (request: StopRequest) => void,
): Disposable {
  const handlers: [Deno.Signal, () => void][] = [
    ["SIGTERM", () => void classifyTerm(paths, self).then(onStop)],
    ["SIGINT", () => onStop(STOP_REQUESTS.interrupted)],
    ["SIGUSR1", () => onStop(STOP_REQUESTS.restart)],
  ];
  const added: typeof handlers = [];
  for (const [signal, handler] of handlers) {
    try {
      Deno.addSignalListener(signal, handler);
      added.push([signal, handler]);
    } catch {
      // Not on this system (SIGUSR1 on Windows).
    }
  }
  return {
    [Symbol.dispose]() {
      for (const [signal, handler] of added) Deno.removeSignalListener(signal, handler);
    },
  };
}

/**
 * What a SIGTERM means: a matching takeover marker → replaced; a matching
 * planned-stop marker → stopped; neither → terminated (exit 75). Both
 * markers are consumed (read once, removed).
 */
export async function classifyTerm(paths: HermesPaths, self: MarkerTarget): Promise<StopRequest> {
  const takeover = await consumeMarker(paths.takeoverMarker, self);
  const planned = await consumeMarker(paths.plannedStopMarker, self);
  if (takeover) return STOP_REQUESTS.replaced;
  if (planned) return STOP_REQUESTS.stopped;
  return STOP_REQUESTS.terminated;
}
