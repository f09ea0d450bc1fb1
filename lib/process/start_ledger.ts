/**
 * `gateway-starts.log`: one JSON line per gateway start, kept short, read by
 * the respawn-storm breaker and by operators looking at handoff times.
 *
 * A gateway that crashes right after start, revived by its supervisor again
 * and again, hammers the platforms (and may get its bot banned). More than 5
 * unplanned starts within 120 s make the next start wait, doubling each time
 * up to 300 s. Starts an operator asked for (`--replace`, or after a planned
 * stop) are not a storm and do not count.
 *
 * @module
 */

import { writeFileAtomic } from "../util/atomic_file.ts";

/** One line of the ledger. */
export interface StartEntry {
  /** ISO time of the start. */
  readonly at: string;
  readonly pid: number;
  /** Why this start happened: `replace` (--replace), `after_planned_stop`, or `unplanned`. */
  readonly kind: "replace" | "after_planned_stop" | "unplanned";
  /** For replacements: ms between the old gateway ceasing to serve and this one running. */
  readonly dead_window_ms?: number;
}

/** Starts inside this window count towards a storm. */
export const STORM_WINDOW_MS = 120_000;
/** More unplanned starts than this inside the window is a storm. */
export const STORM_THRESHOLD = 5;
/** Entries kept in the file. */
const KEEP = 100;

/**
 * Reads the ledger; torn or foreign lines are skipped.
 *
 * @example
 * ```ts
 * readStartLedger("/srv/hermes/gateway-starts.log").length; // 12
 * ```
 */
export function readStartLedger(path: string): StartEntry[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return [];
  }
  const entries: StartEntry[] = [];
  for (const line of text.split("\n")) {
    try {
      const entry = JSON.parse(line);
      if (typeof entry?.at === "string" && typeof entry.pid === "number") entries.push(entry);
    } catch {
      // a torn or foreign line
    }
  }
  return entries;
}

/**
 * Adds `entry` to the ledger (atomically, keeping the last 100 entries).
 * Never throws: the ledger must not stop a gateway from starting.
 */
export async function appendStart(path: string, entry: StartEntry): Promise<boolean> {
  return await writeLedger(path, [...readStartLedger(path), entry].slice(-KEEP));
}

/**
 * How long the next start must wait: 0 normally; with n > 5 unplanned
 * starts in the last 120 s, min(300, 5 * 2^min(n - 5, 6)) seconds.
 *
 * @example
 * ```ts
 * const now = new Date();
 * const crashes = [1, 2, 3, 4, 5, 6].map((pid) => ({
 *   at: now.toISOString(),
 *   pid,
 *   kind: "unplanned" as const,
 * }));
 * stormDelaySeconds(crashes, now); // 10
 * ```
 */
export function stormDelaySeconds(entries: readonly StartEntry[], now: Date): number {
  const since = now.getTime() - STORM_WINDOW_MS;
  const n = entries.filter((e) => e.kind === "unplanned" && Date.parse(e.at) >= since).length;
  if (n <= STORM_THRESHOLD) return 0;
  return Math.min(300, 5 * 2 ** Math.min(n - STORM_THRESHOLD, 6));
}

/**
 * Adds the measured handoff dead window to this process's start entry.
 * Never throws.
 */
export async function recordDeadWindow(path: string, pid: number, ms: number): Promise<boolean> {
  const entries = readStartLedger(path);
  const index = entries.findLastIndex((e) => e.pid === pid);
  if (index < 0) return false;
  entries[index] = { ...entries[index]!, dead_window_ms: ms };
  return await writeLedger(path, entries);
}

async function writeLedger(path: string, entries: readonly StartEntry[]): Promise<boolean> {
  try {
    const text = entries.map((e) => JSON.stringify(e)).join("\n") + "\n";
    await writeFileAtomic(path, text, { mode: 0o600 });
    return true;
  } catch {
    return false;
  }
}
