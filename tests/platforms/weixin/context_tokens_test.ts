import assert from "node:assert/strict";
import { ContextTokens, MAX_PEERS } from "../../../lib/platforms/weixin/context_tokens.ts";

Deno.test("a peer's newest token is live at once and durable once its message is journaled", () => {
  const tokens = new ContextTokens([["u1", "c1"]]);
  assert.equal(tokens.of("u1"), "c1", "the saved token is live after a start");
  tokens.received("u1", "c2");
  assert.equal(tokens.of("u1"), "c2");
  assert.equal(tokens.takeChanges(), undefined, "not journaled yet: nothing to save");
  tokens.journaled(new Map([["u1", "c2"]]));
  assert.deepEqual(tokens.takeChanges(), new Map([["u1", "c2"]]));
  assert.equal(tokens.takeChanges(), undefined);
});

Deno.test("a stale token is dropped and never saved again, also across a reload", () => {
  const tokens = new ContextTokens([["u1", "c1"]]);
  tokens.forget("c1");
  assert.equal(tokens.of("u1"), undefined);
  assert.deepEqual(tokens.takeChanges(), new Map());
  tokens.load([["u1", "c1"]]);
  assert.equal(tokens.isStale("c1"), true);
  tokens.journaled(new Map([["u1", "c1"]]));
  assert.equal(tokens.takeChanges(), undefined);
});

Deno.test("a failed save is offered again", () => {
  const tokens = new ContextTokens();
  tokens.journaled(new Map([["u1", "c1"]]));
  assert.ok(tokens.takeChanges());
  tokens.saveFailed();
  assert.deepEqual(tokens.takeChanges(), new Map([["u1", "c1"]]));
});

Deno.test("past 10,000 peers, those heard from least recently lose their token", () => {
  assert.equal(MAX_PEERS, 10_000);
  const tokens = new ContextTokens();
  const batch = new Map<string, string>();
  for (let i = 0; i < MAX_PEERS; i++) {
    tokens.received(`u${i}`, `c${i}`);
    batch.set(`u${i}`, `c${i}`);
  }
  tokens.journaled(batch);
  tokens.received("u0", "c0-new"); // u0 spoke again: u1 is now the least recent
  tokens.journaled(new Map([["u0", "c0-new"]]));
  for (let i = 0; i < 500; i++) tokens.received(`late${i}`, `d${i}`);
  tokens.journaled(new Map([...Array(500).keys()].map((i) => [`late${i}`, `d${i}`])));
  assert.equal(tokens.size, MAX_PEERS);
  assert.equal(tokens.of("u0"), "c0-new", "a peer that spoke again is kept");
  assert.equal(tokens.of("u1"), undefined, "the least recent went");
  assert.equal(tokens.of("u500"), undefined);
  assert.equal(tokens.of("u501"), "c501");
  assert.equal(tokens.of("late499"), "d499");
  const saved = tokens.takeChanges()!;
  assert.equal(saved.size, MAX_PEERS, "what is saved is bounded too");
  assert.equal(saved.has("u1"), false);
});
