/**
 * The PID record: which process is (or was) the gateway of a home, written
 * into `gateway.pid` and the runtime lock file.
 *
 * @module
 */

import { readIdentity } from "./identity.ts";

/** A PID record as stored in `gateway.pid`. */
export interface PidRecord {
  readonly pid: number;
  readonly kind: "hermes-gateway";
  readonly argv: readonly string[];
  /** Start time from /proc; null when unknown. */
  readonly start_time: number | null;
  readonly hermes_home: string;
}

/**
 * The record describing this process as the gateway of `home`.
 *
 * @example
 * ```ts
 * const record = currentPidRecord("/srv/hermes");
 * record.pid === Deno.pid; // true
 * ```
 */
export function currentPidRecord(home: string): PidRecord {
  const identity = readIdentity(Deno.pid);
  return {
    pid: Deno.pid,
    kind: "hermes-gateway",
    argv: identity?.cmdline ?? [Deno.execPath(), ...Deno.args],
    start_time: identity?.startTime ?? null,
    hermes_home: home,
  };
}

/**
 * Parses a PID record; a bare integer is read as `{pid}`. Empty, non-JSON or
 * non-object content is treated as absent (undefined), never as an error.
 *
 * @example
 * ```ts
 * parsePidRecord("4242")?.pid; // 4242
 * parsePidRecord("garbage"); // undefined
 * ```
 */
export function parsePidRecord(text: string): PidRecord | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    return {
      pid: Number(trimmed),
      kind: "hermes-gateway",
      argv: [],
      start_time: null,
      hermes_home: "",
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (!Number.isInteger(record.pid) || (record.pid as number) <= 0) return undefined;
  return {
    pid: record.pid as number,
    kind: "hermes-gateway",
    argv: Array.isArray(record.argv)
      ? record.argv.filter((a): a is string => typeof a === "string")
      : [],
    start_time: typeof record.start_time === "number" ? record.start_time : null,
    hermes_home: typeof record.hermes_home === "string" ? record.hermes_home : "",
  };
}

/**
 * Whether the process a record names is still that process: alive, and with
 * the same start time when both are known.
 *
 * @example
 * ```ts
 * recordIsLive(currentPidRecord("/srv/hermes")); // true
 * ```
 */
export function recordIsLive(record: PidRecord): boolean {
  const identity = readIdentity(record.pid);
  if (!identity) return false;
  return record.start_time === null || identity.startTime === record.start_time;
}

/**
 * Reads a PID record file; undefined when missing or unreadable as a record.
 */
export function readPidRecordFile(path: string): PidRecord | undefined {
  try {
    return parsePidRecord(Deno.readTextFileSync(path));
  } catch {
    return undefined;
  }
}
