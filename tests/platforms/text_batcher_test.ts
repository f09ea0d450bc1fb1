import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { MAX_BATCH_KEYS, MAX_BATCH_PIECES, TextBatcher } from "../../lib/platforms/text_batcher.ts";

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

Deno.test("past 1,000 senders held, the least recently added-to batch is handed on early", () => {
  const clock = FakeTimers.install();
  try {
    const { b, delivered } = batcher();
    for (let i = 0; i < MAX_BATCH_KEYS; i++) b.add(`k${i}`, `p${i}`, `p${i}`);
    b.add("k0", "p0b", "p0b"); // k0 is now the most recent; k1 the oldest
    assert.equal(delivered.length, 0);
    b.add("newcomer", "n", "n");
    assert.deepEqual(delivered, ["p1"], "the oldest batch went early, nothing was dropped");
    assert.equal(b.held, MAX_BATCH_KEYS + 1, "1,000 senders: k0 holds two pieces");
    clock.tick(600);
    assert.equal(delivered.length, MAX_BATCH_KEYS + 1, "every piece handed on exactly once");
    assert.ok(delivered.includes("p0\np0b"));
    assert.equal(b.held, 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("a sender's 50th held piece hands the batch on at once", () => {
  const clock = FakeTimers.install();
  try {
    const { b, delivered } = batcher();
    for (let i = 1; i < MAX_BATCH_PIECES; i++) b.add("k", `${i}`, `${i}`);
    assert.equal(b.held, MAX_BATCH_PIECES - 1);
    b.add("k", "last", "last");
    assert.equal(delivered.length, 1);
    assert.equal(delivered[0]!.split("\n").length, MAX_BATCH_PIECES);
    assert.equal(b.held, 0);
    clock.tick(5000);
    assert.equal(delivered.length, 1, "its timer does not hand it on again");
  } finally {
    clock.uninstall();
  }
});
