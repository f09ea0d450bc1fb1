import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { TextBatcher } from "../../lib/platforms/text_batcher.ts";

function batcher(delayMs = 600, splitDelayMs = 2000) {
  const delivered: string[] = [];
  const b = new TextBatcher<string>({
    delayMs,
    splitDelayMs,
    merge: (pieces) => pieces.join("\n"),
    deliver: (text) => delivered.push(text),
  });
  return { b, delivered };
}

Deno.test("pieces of one sender arriving close together are handed on as one message", () => {
  const clock = FakeTimers.install();
  try {
    const { b, delivered } = batcher();
    b.add("k", "one", "one");
    clock.tick(500);
    b.add("k", "two", "two");
    clock.tick(500);
    assert.deepEqual(delivered, [], "each piece restarts the quiet time");
    clock.tick(100);
    assert.deepEqual(delivered, ["one\ntwo"]);
    assert.equal(b.held, 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("after a piece of 3,900 characters or more the wait is longer (the client split it)", () => {
  const clock = FakeTimers.install();
  try {
    const { b, delivered } = batcher();
    const long = "x".repeat(3900);
    b.add("k", long, long);
    clock.tick(1000);
    b.add("k", "end", "end");
    clock.tick(600);
    assert.deepEqual(delivered, [`${long}\nend`]);
  } finally {
    clock.uninstall();
  }
});

Deno.test("keys do not mix, a flush hands on at once, and no delay means no batching", () => {
  const clock = FakeTimers.install();
  try {
    const { b, delivered } = batcher();
    b.add("a", "a1", "a1");
    b.add("b", "b1", "b1");
    b.flush("a");
    assert.deepEqual(delivered, ["a1"]);
    b.flushAll();
    assert.deepEqual(delivered, ["a1", "b1"]);
    clock.tick(5000);
    assert.deepEqual(delivered, ["a1", "b1"], "a flushed batch is not handed on again");
    const off = batcher(0);
    off.b.add("k", "now", "now");
    assert.deepEqual(off.delivered, ["now"]);
  } finally {
    clock.uninstall();
  }
});
