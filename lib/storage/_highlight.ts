/**
 * Snippets cut in code, for the searches whose index cannot cut one (CJK
 * pairs, scans): the same on every backend.
 *
 * @module
 */

/** The text around the first match, every occurrence of the terms in brackets. */
export function highlight(text: string, terms: readonly string[], radius = 24): string {
  const lower = text.toLowerCase();
  const first = Math.min(
    ...terms.map((t) => lower.indexOf(t.toLowerCase())).filter((i) => i >= 0),
  );
  const start = Number.isFinite(first) ? Math.max(0, first - radius) : 0;
  const end = Math.min(text.length, (Number.isFinite(first) ? first : 0) + radius * 2);
  let window = text.slice(start, end);
  for (const term of terms) {
    const escaped = term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    window = window.replace(new RegExp(escaped, "gi"), (m) => `[${m}]`);
  }
  return `${start > 0 ? "…" : ""}${window}${end < text.length ? "…" : ""}`;
}
