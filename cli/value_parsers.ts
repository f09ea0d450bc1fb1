/**
 * Parsers for option values (`--timeout 30`, `--limit 5`): each returns the
 * number or refuses the word with an {@linkcode InvalidValue} saying what it expected.
 *
 * @module
 */

import { InvalidValue } from "./command.ts";

/** A positive number of seconds, fractions allowed: `--timeout 2.5`. */
export function positiveSeconds(word: string): number {
  const n = Number(word);
  if (!word.trim() || !Number.isFinite(n) || n <= 0) {
    throw new InvalidValue(`expected a positive number of seconds, got "${word}"`);
  }
  return n;
}

/** A whole number above zero: `--limit 20`. */
export function positiveInteger(word: string): number {
  const n = Number(word);
  if (!word.trim() || !Number.isInteger(n) || n <= 0) {
    throw new InvalidValue(`expected a positive whole number, got "${word}"`);
  }
  return n;
}

/** A whole number, zero included: `--reconnects 0`. */
export function wholeNumber(word: string): number {
  const n = Number(word);
  if (!word.trim() || !Number.isInteger(n) || n < 0) {
    throw new InvalidValue(`expected a whole number 0 or more, got "${word}"`);
  }
  return n;
}
