import assert from "node:assert/strict";
import { SeenIds } from "../../lib/platforms/seen_ids.ts";

Deno.test("a repeated message id is refused for five minutes, then taken again", () => {
  const seen = new SeenIds(1000, 300_000);
  assert.equal(seen.add("M1", 0), true);
  assert.equal(seen.add("M1", 299_999), false);
  assert.equal(seen.add("M1", 300_000), true);
});

Deno.test("at most 1,000 ids are kept, the newest ones", () => {
  const seen = new SeenIds(1000, 300_000);
  for (let i = 0; i < 1050; i++) seen.add(`m-${i}`, i);
  assert.equal(seen.size, 1000);
  assert.equal(seen.add("m-1049", 2000), false, "the newest is still known");
  assert.equal(seen.add("m-0", 2000), true, "the oldest was forgotten");
});
