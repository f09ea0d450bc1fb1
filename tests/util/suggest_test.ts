import assert from "node:assert/strict";
import { editDistance, nearest } from "../../lib/util/suggest.ts";

Deno.test("editDistance() counts a swap of neighbours as one edit", () => {
  assert.equal(editDistance("config", "config"), 0);
  assert.equal(editDistance("cofnig", "config"), 1);
  assert.equal(editDistance("gatway", "gateway"), 1);
  assert.equal(editDistance("", "abc"), 3);
});

Deno.test("nearest() picks the closest command, even for a far-off word", () => {
  const commands = ["config", "completion", "gateway", "pair"];
  assert.equal(nearest("confg", commands), "config");
  assert.equal(nearest("gatewya", commands), "gateway");
  assert.equal(nearest("comp", commands), "completion");
  assert.ok(commands.includes(nearest("frobnicate", commands)!));
  assert.equal(nearest("x", []), undefined);
});
