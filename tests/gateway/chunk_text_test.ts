import assert from "node:assert/strict";
import { chunkText } from "../../lib/gateway/chunk_text.ts";

const texts = (text: string, max: number) => chunkText(text, max).map((c) => c.text);
const fences = (text: string) => text.split("```").length - 1;

Deno.test("a short text is one chunk, identical to the input", () => {
  const report = "今天结论：\n- 留存下降 3%\n- 转化上涨 8%\n- 主要问题在首日激活";
  assert.deepEqual(texts(report, 4096), [report]);
});

Deno.test("paragraphs split at blank lines: MAX 12 gives first, second, third", () => {
  assert.deepEqual(texts("first\n\nsecond\n\nthird", 12), ["first", "second", "third"]);
});

Deno.test("a fence cut in two is closed and reopened with its language; every chunk has an even number of fences", () => {
  const text = [
    "## Heading",
    "",
    "Some words before the code, long enough to matter.",
    "",
    "```python",
    ...Array.from({ length: 10 }, (_, i) => `print('line ${i}')`),
    "```",
    "",
    "And a closing paragraph.",
  ].join("\n");
  const chunks = texts(text, 70);
  assert.ok(chunks.length >= 3);
  for (const chunk of chunks) {
    assert.ok(chunk.length <= 70, `too long: ${chunk.length}`);
    assert.equal(fences(chunk) % 2, 0, `odd fences in ${JSON.stringify(chunk)}`);
  }
  const reopened = chunks.filter((c) => c.startsWith("```python\n"));
  assert.ok(reopened.length >= 2, "the python fence is reopened with its language");
  const code = chunks.join("\n").match(/print\('line \d+'\)/g);
  assert.equal(code?.length, 10, "no code line lost or repeated");
});

Deno.test("no empty or whitespace-only chunks around a horizontal rule", () => {
  for (const chunk of texts("前一段\n\n---\n\n后一段", 6)) assert.ok(chunk.trim().length > 0);
});

Deno.test("a surrogate pair is never split", () => {
  const text = "😀".repeat(10);
  const chunks = texts(text, 5);
  assert.equal(chunks.join(""), text);
  for (const chunk of chunks) assert.ok(chunk.length <= 5 && !/[\ud800-\udbff]$/.test(chunk));
});

Deno.test("a long line without spaces is cut hard at the limit and nothing is lost", () => {
  const text = "x".repeat(25);
  assert.deepEqual(texts(text, 10).map((c) => c.length), [10, 10, 5]);
});

Deno.test("the end offsets cover the whole source", () => {
  const text = "alpha beta gamma delta epsilon zeta eta theta";
  const chunks = chunkText(text, 12);
  assert.equal(chunks.at(-1)!.end, text.length);
  for (let i = 1; i < chunks.length; i++) assert.ok(chunks[i]!.end > chunks[i - 1]!.end);
});

Deno.test("platforms that count bytes get parts of at most that many UTF-8 bytes", () => {
  const text = "中文".repeat(1000) + " and some English words to finish";
  const parts = chunkText(text, 2048, "bytes");
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  assert.ok(parts.length >= 3);
  for (const part of parts) assert.ok(bytes(part.text) <= 2048, `${bytes(part.text)} bytes`);
  const squeeze = (s: string) => s.replace(/\s+/g, "");
  assert.equal(squeeze(parts.map((p) => p.text).join("")), squeeze(text), "nothing is lost");
  assert.equal(
    chunkText("😀".repeat(600), 2048, "bytes").every((p) => bytes(p.text) <= 2048),
    true,
  );
});
