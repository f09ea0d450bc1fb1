/**
 * A parser for `.env` files as operators write them: `KEY=value`, optional
 * `export `, single or double quotes, `#` comments, blank lines.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/** Variables of a .env file, each with the line it was set on. */
export type DotenvVars = Map<string, { value: string; line: number }>;

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses the text of a .env file. A malformed line is a `ConfigError` naming
 * the file and line; a later line for the same key wins.
 *
 * @example
 * ```ts
 * parseDotenv('TOKEN="abc" # bot\nexport MODE=dev\n', "/srv/hermes/.env").get("TOKEN")?.value; // "abc"
 * ```
 */
export function parseDotenv(text: string, file: string): DotenvVars {
  const vars: DotenvVars = new Map();
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("export ")) line = line.slice(7).trimStart();
    const eq = line.indexOf("=");
    const key = eq < 0 ? line : line.slice(0, eq).trim();
    if (eq < 0 || !KEY.test(key)) {
      throw new ConfigError(
        `Cannot load config "${file}": line ${lineNo}: expected KEY=value; fix or comment out that line`,
      );
    }
    const value = parseValue(line.slice(eq + 1).trim(), file, lineNo);
    vars.set(key, { value, line: lineNo });
  }
  return vars;
}

function parseValue(raw: string, file: string, lineNo: number): string {
  const quote = raw[0];
  if (quote !== '"' && quote !== "'") return raw.replace(/\s+#.*$/, "");
  const end = findClosingQuote(raw, quote);
  if (end < 0) {
    throw new ConfigError(
      `Cannot load config "${file}": line ${lineNo}: the ${quote} quote is not closed; close it on the same line`,
    );
  }
  const rest = raw.slice(end + 1).trim();
  if (rest !== "" && !rest.startsWith("#")) {
    throw new ConfigError(
      `Cannot load config "${file}": line ${lineNo}: unexpected text after the closing quote; put comments after a #`,
    );
  }
  const body = raw.slice(1, end);
  return quote === "'" ? body : unescapeDouble(body);
}

function findClosingQuote(raw: string, quote: string): number {
  for (let i = 1; i < raw.length; i++) {
    if (quote === '"' && raw[i] === "\\") i++;
    else if (raw[i] === quote) return i;
  }
  return -1;
}

function unescapeDouble(body: string): string {
  return body.replace(
    /\\(.)/g,
    (_, ch: string) => ({ n: "\n", r: "\r", t: "\t" } as Record<string, string>)[ch] ?? ch,
  );
}
