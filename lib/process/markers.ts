/**
 * Takeover and planned-stop markers: a note left in the home for one gateway
 * process (named by PID and start time) before it is sent SIGTERM, so that it
 * knows the stop was planned and exits 0 instead of asking to be revived.
 *
 * A marker is one-shot and expires after 60 s; reading it removes it, match
 * or not, so a stale marker can never turn a later, unplanned SIGTERM into a
 * planned one.
 *
 * @module
 */

import { writeJsonAtomic } from "../util/atomic_file.ts";

/** How long a marker stays valid after it was written. */
export const MARKER_TTL_MS = 60_000;

/** The process a marker is meant for. */
export interface MarkerTarget {
  readonly pid: number;
  /** Start time from /proc; null when unknown (then the PID alone decides). */
  readonly startTime: number | null;
  readonly home: string;
}

/** What a takeover marker records: who is replacing whom. */
export interface TakeoverMarker {
  readonly target_pid: number;
  readonly target_start_time: number | null;
  readonly target_hermes_home: string;
  readonly replacer_pid: number;
  readonly replacer_hermes_home: string;
  readonly written_at: string;
}

/** What a planned-stop marker records: who asked whom to stop. */
export interface PlannedStopMarker {
  readonly target_pid: number;
  readonly target_start_time: number | null;
  readonly target_hermes_home: string;
  readonly stopper_pid: number;
  readonly written_at: string;
}

/**
 * Writes a takeover marker for `target` (written by `gateway run --replace`).
 * Returns false instead of throwing when the file cannot be written.
 *
 * @example
 * ```ts
 * await writeTakeoverMarker("/srv/hermes/.gateway-takeover.json", { pid: 4242, startTime: 99, home: "/srv/hermes" });
 * ```
 */
export async function writeTakeoverMarker(
  path: string,
  target: MarkerTarget,
  now: Date = new Date(),
): Promise<boolean> {
  const marker: TakeoverMarker = {
    ...targetFields(target, now),
    replacer_pid: Deno.pid,
    replacer_hermes_home: target.home,
  };
  return await writeQuietly(path, marker);
}

/**
 * Writes a planned-stop marker for `target` (written by `gateway stop`).
 * Returns false instead of throwing when the file cannot be written.
 */
export async function writePlannedStopMarker(
  path: string,
  target: MarkerTarget,
  now: Date = new Date(),
): Promise<boolean> {
  const marker: PlannedStopMarker = { ...targetFields(target, now), stopper_pid: Deno.pid };
  return await writeQuietly(path, marker);
}

/**
 * Reads and removes the marker at `path`; true only when it names `self`
 * (same PID, same start time unless either is unknown, same home) and is
 * younger than 60 s. A missing, corrupt, expired or foreign marker is false.
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * const path = hermesPaths("/srv/hermes").plannedStopMarker;
 * const planned = await consumeMarker(path, { pid: Deno.pid, startTime: 99, home: "/srv/hermes" });
 * ```
 */
export async function consumeMarker(
  path: string,
  self: MarkerTarget,
  now: Date = new Date(),
): Promise<boolean> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return false;
  }
  await Deno.remove(path).catch(() => {});
  let marker: Record<string, unknown>;
  try {
    marker = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof marker !== "object" || marker === null) return false;
  const writtenAt = Date.parse(String(marker.written_at));
  if (!Number.isFinite(writtenAt) || now.getTime() - writtenAt > MARKER_TTL_MS) return false;
  if (writtenAt - now.getTime() > MARKER_TTL_MS) return false; // from the future: clock jump, distrust
  if (marker.target_pid !== self.pid) return false;
  if (typeof marker.target_hermes_home === "string" && marker.target_hermes_home !== self.home) {
    return false;
  }
  const theirs = typeof marker.target_start_time === "number" ? marker.target_start_time : null;
  return theirs === null || self.startTime === null || theirs === self.startTime;
}

/** The fields every marker shares: whom it is for, and when it was written. */
function targetFields(target: MarkerTarget, now: Date) {
  return {
    target_pid: target.pid,
    target_start_time: target.startTime,
    target_hermes_home: target.home,
    written_at: now.toISOString(),
  };
}

async function writeQuietly(path: string, marker: object): Promise<boolean> {
  try {
    await writeJsonAtomic(path, marker, { mode: 0o600 });
    return true;
  } catch {
    return false;
  }
}
