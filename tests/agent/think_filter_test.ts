import assert from "node:assert/strict";
import { filterThinkBlocks } from "../../lib/agent/think_filter.ts";

async function run(deltas: string[]): Promise<string> {
  async function* source() {
    yield* deltas;
  }
  let out = "";
  for await (const piece of filterThinkBlocks(source())) out += piece;
  return out;
}

Deno.test("a think-block at the start of the reply is hidden", async () => {
  assert.equal(await run(["<think>plan it</think>\n\nHello"]), "Hello");
});

Deno.test("think tags split across deltas are still recognised", async () => {
  assert.equal(
    await run(["<th", "ink>se", "cret</thi", "nk>", "\nAnswer ", "here"]),
    "Answer here",
  );
});

Deno.test("a think-block starting a later line is hidden; the text around it stays", async () => {
  assert.equal(
    await run(["First line\n", "  <think>hmm</think>\n", "Second line"]),
    "First line\nSecond line",
  );
});

Deno.test("<think> in the middle of a sentence is text and stays", async () => {
  assert.equal(await run(["use the ", "<think> tag"]), "use the <think> tag");
});

Deno.test("an unclosed think-block is dropped at the end", async () => {
  assert.equal(await run(["Answer\n<think>never closed"]), "Answer\n");
});

Deno.test("text that only looks like the start of a tag is released at the end", async () => {
  assert.equal(await run(["<thi"]), "<thi");
});
