import assert from "node:assert/strict";
import { TokenBucket } from "../../lib/util/token_bucket.ts";
import { MAX_IDLE_CHECK, RateBudgets } from "../../lib/gateway/rate_budget.ts";
import type { PlatformAdapter } from "../../lib/platforms/adapter.ts";

Deno.test("a token bucket gives its burst at once, then one token per 1/rate seconds", () => {
  let now = 0;
  const bucket = new TokenBucket(2, 2, () => now);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.waitMs(), 500);
  assert.equal(bucket.tryTake(), false);
  now = 500;
  assert.equal(bucket.tryTake(), true);
  now = 10_000;
  assert.ok(bucket.idle(), "refilled to its burst, not beyond");
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.waitMs(), 500);
});

Deno.test("a paused bucket has no token until the pause ends", () => {
  let now = 0;
  const bucket = new TokenBucket(10, 10, () => now);
  bucket.pause(3_000);
  assert.equal(bucket.waitMs(), 3_000);
  assert.equal(bucket.idle(), false);
  now = 3_000;
  assert.equal(bucket.waitMs(), 0);
});

Deno.test("budgets: a chat's sends are paced, other chats are not; a slow-down also stops previews", () => {
  let now = 0;
  const adapter = {
    name: "t",
    capabilities: {
      streaming: "edit",
      maxMessageLength: 100,
      rate: { perChatPerSecond: 1, globalPerSecond: 30 },
    },
  } as unknown as PlatformAdapter;
  const budgets = new RateBudgets(() => now);
  assert.equal(budgets.waitMs(adapter, "a"), 0);
  budgets.take(adapter, "a");
  assert.equal(budgets.waitMs(adapter, "a"), 1_000, "chat a waits a second");
  assert.equal(budgets.waitMs(adapter, "b"), 0, "chat b does not");
  assert.equal(budgets.tryPreview(adapter, "a"), false, "previews draw on the same budget");
  now = 1_000;
  assert.equal(budgets.tryPreview(adapter, "a"), true);
  budgets.slowDown(adapter, "b", 5_000);
  assert.equal(budgets.tryPreview(adapter, "b"), false);
  assert.equal(budgets.waitMs(adapter, "b"), 5_000);
  const free = {
    name: "free",
    capabilities: { streaming: "edit", maxMessageLength: 100 },
  } as unknown as PlatformAdapter;
  assert.equal(budgets.waitMs(free, "a"), 0, "no budget declared: no waiting");
});

Deno.test("budgets: past 10,000 chats the idle buckets are forgotten, never one still pacing its chat", () => {
  let now = 0;
  const adapter = {
    name: "t",
    capabilities: {
      streaming: "edit",
      maxMessageLength: 100,
      rate: { perChatPerSecond: 1, globalPerSecond: 1_000_000 },
    },
  } as unknown as PlatformAdapter;
  const budgets = new RateBudgets(() => now);
  for (let i = 0; i < MAX_IDLE_CHECK; i++) budgets.take(adapter, `c${i}`);
  budgets.waitMs(adapter, "x");
  assert.equal(budgets.chats, MAX_IDLE_CHECK + 1, "every bucket still paces its chat: none goes");
  now = 1_000; // every bucket has refilled: as good as new
  budgets.slowDown(adapter, "c0", 60_000);
  budgets.waitMs(adapter, "fresh");
  assert.equal(budgets.chats, 2, "only the paused chat and the new one are left");
  assert.equal(budgets.waitMs(adapter, "c0"), 60_000, "the paused chat still waits");
});
