/**
 * A log sink that appends to a file and rotates it by size:
 * `gateway.log` → `gateway.log.1` → … → `gateway.log.N`, oldest dropped.
 *
 * @module
 */

import type { LogFormat, LogSink } from "./log.ts";
import { writeAllSync } from "./write_all.ts";

/** Options of {@linkcode rotatingFileSink}. */
export interface RotatingFileOptions {
  /** Rotate before a write would take the file past this size. */
  maxBytes: number;
  /** How many rotated files to keep besides the live one. */
  maxFiles: number;
  /** Line format; files default to JSON lines, which tools can parse. */
  format?: LogFormat;
}

/**
 * A sink appending to `path` (created with mode 0600: logs may quote users'
 * messages) that rotates when the file would exceed `maxBytes`.
 *
 * @example
 * ```ts
 * const sink = rotatingFileSink("/srv/hermes/logs/gateway.log", { maxBytes: 10_485_760, maxFiles: 5 });
 * ```
 */
export function rotatingFileSink(path: string, options: RotatingFileOptions): LogSink & Disposable {
  const encoder = new TextEncoder();
  const folder = path.slice(0, path.lastIndexOf("/")) || ".";
  Deno.mkdirSync(folder, { recursive: true, mode: 0o700 });
  let file = openForAppend(path);
  let size = file.statSync().size;

  const rotate = () => {
    file.close();
    for (let n = options.maxFiles - 1; n >= 1; n--) {
      renameIfPresent(`${path}.${n}`, `${path}.${n + 1}`);
    }
    if (options.maxFiles >= 1) renameIfPresent(path, `${path}.1`);
    else Deno.removeSync(path);
    file = openForAppend(path);
    size = 0;
  };

  return {
    format: options.format ?? "json",
    write(line) {
      const bytes = encoder.encode(`${line}\n`);
      if (size > 0 && size + bytes.length > options.maxBytes) rotate();
      writeAllSync(file, bytes);
      size += bytes.length;
    },
    [Symbol.dispose]() {
      file.close();
    },
  };
}

function openForAppend(path: string): Deno.FsFile {
  return Deno.openSync(path, { append: true, create: true, mode: 0o600 });
}

function renameIfPresent(from: string, to: string): void {
  try {
    Deno.renameSync(from, to);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
