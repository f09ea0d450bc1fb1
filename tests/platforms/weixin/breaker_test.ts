import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { RateLimitBreaker } from "../../../lib/platforms/weixin/breaker.ts";

/** The global clock faked until the end of the scope. */
function fakeClock() {
  const clock = FakeTimers.install({ now: 1_700_000_000_000 });
  return { clock, [Symbol.dispose]: () => clock.uninstall() };
}

Deno.test("a breaker of threshold 1 opens on the first rate limit", () => {
  using fake = fakeClock();
  const breaker = new RateLimitBreaker({ threshold: 1, windowMs: 30_000, openMs: 30_000 });
  assert.equal(breaker.remainingMs(), 0, "closed before any rate limit");
  assert.equal(breaker.record(), true);
  assert.equal(breaker.remainingMs(), 30_000);
  fake.clock.tick(1);
  assert.equal(breaker.remainingMs(), 29_999);
});

Deno.test("a breaker of threshold 3 opens on the third rate limit within the window", () => {
  using fake = fakeClock();
  const breaker = new RateLimitBreaker({ threshold: 3, windowMs: 30_000, openMs: 10_000 });
  assert.equal(breaker.record(), false);
  fake.clock.tick(10_000);
  assert.equal(breaker.record(), false);
  assert.equal(breaker.remainingMs(), 0, "still closed after two");
  fake.clock.tick(19_999);
  assert.equal(breaker.record(), true, "the third is 29.999 s after the first");
  assert.equal(breaker.remainingMs(), 10_000);
});

Deno.test("a breaker of threshold 3 stays closed when the rate limits are spread past the window", () => {
  using fake = fakeClock();
  const breaker = new RateLimitBreaker({ threshold: 3, windowMs: 30_000, openMs: 10_000 });
  assert.equal(breaker.record(), false);
  fake.clock.tick(15_000);
  assert.equal(breaker.record(), false);
  fake.clock.tick(15_000);
  assert.equal(breaker.record(), false, "the first one is 30 s old: out of the window");
  assert.equal(breaker.remainingMs(), 0);
  fake.clock.tick(14_999);
  assert.equal(breaker.record(), true, "the last three are within 30 s");
});

Deno.test("an open breaker counts down to closed on the clock", () => {
  using fake = fakeClock();
  const breaker = new RateLimitBreaker({ threshold: 1, windowMs: 30_000, openMs: 30_000 });
  breaker.record();
  fake.clock.tick(12_500);
  assert.equal(breaker.remainingMs(), 17_500);
  fake.clock.tick(17_499);
  assert.equal(breaker.remainingMs(), 1);
  fake.clock.tick(1);
  assert.equal(breaker.remainingMs(), 0);
  fake.clock.tick(60_000);
  assert.equal(breaker.remainingMs(), 0, "never negative");
});

Deno.test("a breaker reads the clock it is given", () => {
  const clock = FakeTimers.createClock(5_000);
  const breaker = new RateLimitBreaker({
    threshold: 1,
    windowMs: 1_000,
    openMs: 2_000,
    now: () => clock.now,
  });
  breaker.record();
  clock.tick(500);
  assert.equal(breaker.remainingMs(), 1_500);
});

Deno.test("a success closes an open breaker and forgets the rate limits before it", () => {
  using fake = fakeClock();
  const breaker = new RateLimitBreaker({ threshold: 2, windowMs: 30_000, openMs: 30_000 });
  breaker.record();
  assert.equal(breaker.record(), true);
  assert.ok(breaker.remainingMs() > 0);
  breaker.success();
  assert.equal(breaker.remainingMs(), 0, "closed at once");
  fake.clock.tick(1_000);
  assert.equal(breaker.record(), false, "the count started again");
  breaker.success();
  fake.clock.tick(1_000);
  assert.equal(breaker.record(), false, "the one before the success is forgotten");
  assert.equal(breaker.record(), true);
});
