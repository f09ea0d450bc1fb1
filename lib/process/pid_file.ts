/**
 * `gateway.pid`: created exclusively by the gateway that holds the runtime
 * lock, removed by it on exit, and only while it still names that gateway.
 *
 * The record is written to a temporary file, synced, then hard-linked into
 * place: `link()` fails when the name exists, so the create is exclusive, and
 * readers never see a half-written record, even after a `kill -9`.
 *
 * @module
 */

import { type PidRecord, readPidRecordFile } from "./pid_record.ts";
import { writeAllSync } from "../util/write_all.ts";

/**
 * Creates `path` holding `record`; false when the file already exists (the
 * PID file race is lost).
 *
 * @example
 * ```ts
 * import { currentPidRecord } from "./pid_record.ts";
 * if (!claimPidFile("/srv/hermes/gateway.pid", currentPidRecord("/srv/hermes"))) {
 *   throw new Error("PID file race lost");
 * }
 * ```
 */
export function claimPidFile(path: string, record: PidRecord): boolean {
  const temp = `${path}.${record.pid}.tmp`;
  try {
    using file = Deno.openSync(temp, { write: true, create: true, truncate: true, mode: 0o600 });
    // A temp file left by a crash keeps its old mode through truncate; set it exactly.
    Deno.chmodSync(temp, 0o600);
    writeAllSync(file, new TextEncoder().encode(`${JSON.stringify(record)}\n`));
    file.syncSync();
    Deno.linkSync(temp, path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  } finally {
    try {
      Deno.removeSync(temp);
    } catch {
      // already gone
    }
  }
}

/**
 * Removes `path` if it still names `pid`; a record another gateway wrote in
 * the meantime is left alone. Returns whether the file was removed.
 */
export function releasePidFile(path: string, pid: number): boolean {
  if (readPidRecordFile(path)?.pid !== pid) return false;
  try {
    Deno.removeSync(path);
    return true;
  } catch {
    return false;
  }
}
