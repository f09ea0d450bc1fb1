/** Characters of the CJK scripts (Han, Hiragana, Katakana, Hangul). */
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const CJK_RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+/gu;

/** Whether `text` holds any CJK character. */
export function hasCjk(text: string): boolean {
  return CJK.test(text);
}

/**
 * Every run of CJK characters in `text` as overlapping two-character words,
 * space-separated: "今天天气" → "今天 天天 天气". Single characters are kept.
 */
export function cjkBigrams(text: string): string {
  const grams: string[] = [];
  for (const [run] of text.matchAll(CJK_RUN)) {
    const chars = [...run];
    if (chars.length === 1) grams.push(chars[0]!);
    for (let i = 0; i + 1 < chars.length; i++) grams.push(chars[i]! + chars[i + 1]!);
  }
  return grams.join(" ");
}
