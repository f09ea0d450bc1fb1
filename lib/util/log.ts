/**
 * Structured logging: levels, human lines for people at a terminal, JSON lines
 * for machines, and every line passed through the secret masker first.
 *
 * @module
 */

import { type SecretMasker } from "./secret_mask.ts";

/** Severity of a log record, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** All levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** How a sink renders records: `human` lines or `json` lines. */
export type LogFormat = "human" | "json";

/** One log record as sinks receive it. */
export interface LogRecord {
  /** ISO 8601 UTC time of the record. */
  readonly ts: string;
  readonly level: LogLevel;
  readonly msg: string;
  /** Structured context such as `{ platform: "wecom", errcode: 846609 }`. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Receives each already-rendered, already-masked log line. */
export interface LogSink {
  /** Renders records in this format. */
  readonly format: LogFormat;
  /** Writes one line (without its newline). */
  write(line: string, record: LogRecord): void;
}

/** Options of {@linkcode Logger}. */
export interface LoggerOptions {
  level: LogLevel;
  sinks: LogSink[];
  masker: SecretMasker;
  /** Whether human lines may carry ANSI colour. */
  color?: boolean;
  /** Current time; tests pass a fixed clock. */
  now?: () => Date;
}

/**
 * Writes log records at or above its level to every sink. Child loggers add
 * fields (such as the platform name) and share level, sinks and masker.
 *
 * @example
 * ```ts
 * import { SecretMasker } from "./secret_mask.ts";
 * const masker = new SecretMasker();
 * const log = new Logger({ level: "info", sinks: [lineSink("json", console.log)], masker });
 * log.child({ platform: "wecom" }).warn("Reconnecting", { attempt: 3 });
 * ```
 */
export class Logger {
  readonly #shared: LoggerOptions;
  readonly #fields: Readonly<Record<string, unknown>>;

  constructor(options: LoggerOptions, fields: Readonly<Record<string, unknown>> = {}) {
    this.#shared = options;
    this.#fields = fields;
  }

  /** The lowest level this logger writes. */
  get level(): LogLevel {
    return this.#shared.level;
  }

  /** Changes the level of this logger and all its children. */
  setLevel(level: LogLevel): void {
    this.#shared.level = level;
  }

  /** Sends every later record of this logger and its children to `sink` too, until disposed. */
  addSink(sink: LogSink): Disposable {
    this.#shared.sinks.push(sink);
    return {
      [Symbol.dispose]: () => {
        const at = this.#shared.sinks.indexOf(sink);
        if (at >= 0) this.#shared.sinks.splice(at, 1);
      },
    };
  }

  /** Whether a record at `level` would be written. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(this.#shared.level);
  }

  /** A logger that adds `fields` to every record. */
  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.#shared, { ...this.#fields, ...fields });
  }

  /** Logs detail useful when diagnosing. */
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.#log("debug", msg, fields);
  }

  /** Logs a normal event. */
  info(msg: string, fields?: Record<string, unknown>): void {
    this.#log("info", msg, fields);
  }

  /** Logs something an operator may want to act on. */
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.#log("warn", msg, fields);
  }

  /** Logs a failure. */
  error(msg: string, fields?: Record<string, unknown>): void {
    this.#log("error", msg, fields);
  }

  #log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    const now = this.#shared.now?.() ?? new Date();
    const record: LogRecord = {
      ts: now.toISOString(),
      level,
      msg,
      fields: serializeFields(
        { ...this.#fields, ...fields },
        level === "debug" || this.level === "debug",
      ),
    };
    let human: string | undefined;
    let json: string | undefined;
    for (const sink of this.#shared.sinks) {
      if (sink.format === "json") {
        json ??= this.#shared.masker.mask(renderJson(record));
        sink.write(json, record);
      } else {
        human ??= this.#shared.masker.mask(renderHuman(record, this.#shared.color ?? false));
        sink.write(human, record);
      }
    }
  }
}

/**
 * A sink that hands each line (with its newline) to `write`, e.g. standard error.
 *
 * @example
 * ```ts
 * const encoder = new TextEncoder();
 * lineSink("json", (line) => Deno.stderr.writeSync(encoder.encode(line)));
 * ```
 */
export function lineSink(format: LogFormat, write: (line: string) => void): LogSink {
  return { format, write: (line) => write(`${line}\n`) };
}

/** Renders a record as one human line: `12:00:00.000 WARN  message key=value`. */
export function renderHuman(record: LogRecord, color: boolean): string {
  const time = record.ts.slice(11, 23);
  const label = record.level.toUpperCase().padEnd(5);
  const fields = Object.entries(record.fields)
    .map(([key, value]) =>
      `${key}=${typeof value === "string" ? quoteIfNeeded(value) : JSON.stringify(value)}`
    )
    .join(" ");
  const head = color ? `\x1b[${LEVEL_COLOR[record.level]}m${label}\x1b[39m` : label;
  return `${time} ${head} ${record.msg}${fields ? ` ${fields}` : ""}`;
}

/** Renders a record as one JSON line: `{"ts":..,"level":..,"msg":..,...fields}`. */
export function renderJson(record: LogRecord): string {
  return JSON.stringify({ ts: record.ts, level: record.level, msg: record.msg, ...record.fields });
}

/** SGR foreground colours (gray, cyan, yellow, red), written directly: `node:util` would cost the CLI ~20 ms of start. */
const LEVEL_COLOR = {
  debug: 90,
  info: 36,
  warn: 33,
  error: 31,
} as const satisfies Record<LogLevel, number>;

function quoteIfNeeded(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

function serializeFields(
  fields: Record<string, unknown>,
  withStacks: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[key] = value instanceof Error
      ? { name: value.name, message: value.message, ...(withStacks ? { stack: value.stack } : {}) }
      : value;
  }
  return out;
}
