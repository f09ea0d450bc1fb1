/**
 * "Did you mean ...?" suggestions.
 *
 * @module
 */

/**
 * The candidate closest to `word`: one that `word` abbreviates, else the one
 * at the smallest edit distance (insertions, deletions, substitutions and
 * swaps of neighbours), preferring one that starts with the same letter.
 * Undefined only when there are no candidates.
 *
 * @example
 * ```ts
 * nearest("confg", ["config", "completion", "gateway"]); // "config"
 * ```
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of candidates) {
    const [w, c] = [word.toLowerCase(), candidate.toLowerCase()];
    const score = w && c.startsWith(w) ? -1 : editDistance(w, c) - (c[0] === w[0] ? 0.5 : 0);
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/** Damerau-Levenshtein distance (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = value;
    }
  }
  return d[a.length]![b.length]!;
}
