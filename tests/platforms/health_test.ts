import assert from "node:assert/strict";
import { LinkHealthTracker } from "../../lib/platforms/health.ts";

/** A tracker on a clock the test moves. */
function trackerAt(start = Date.parse("2026-12-01T10:00:00Z")) {
  let now = start;
  const health = new LinkHealthTracker(() => new Date(now));
  return { health, advance: (ms: number) => void (now += ms) };
}

Deno.test("the dead window still open counts in the snapshot, with the time it began", () => {
  const { health, advance } = trackerAt();
  health.set("subscribed");
  advance(1_000);
  health.set("retrying");
  advance(45_000);
  const down = health.snapshot();
  assert.equal(down.longest_dead_window_ms, 45_000);
  assert.equal(down.down_since, "2026-12-01T10:00:01.000Z");
  assert.equal(down.reconnects, 1);

  health.set("subscribed");
  advance(10_000);
  const up = health.snapshot();
  assert.equal(up.longest_dead_window_ms, 45_000, "a closed window is kept");
  assert.equal(up.down_since, null);
});

Deno.test("a shorter window later does not replace the longest; a stop ends a window", () => {
  const { health, advance } = trackerAt();
  health.set("subscribed");
  health.set("retrying");
  advance(30_000);
  health.set("receiving");
  health.set("retrying");
  advance(5_000);
  assert.equal(health.snapshot().longest_dead_window_ms, 30_000);
  health.set("stopped");
  advance(600_000);
  const stopped = health.snapshot();
  assert.equal(stopped.longest_dead_window_ms, 30_000, "stopped time is not dead time");
  assert.equal(stopped.down_since, null);
  assert.equal(stopped.stopped_at, "2026-12-01T10:00:35.000Z");
});

Deno.test("a degraded link (a ping unanswered) still delivers: it opens no dead window", () => {
  const { health, advance } = trackerAt();
  health.set("subscribed");
  health.set("degraded");
  advance(10_000);
  assert.equal(health.snapshot().longest_dead_window_ms, 0);
  assert.equal(health.snapshot().down_since, null);
  assert.equal(health.snapshot().reconnects, 0);
});

Deno.test("each way back counts one reconnect: after a loss, and after a step back", () => {
  const { health } = trackerAt();
  health.set("connecting");
  health.set("subscribed");
  health.set("retrying"); // lost
  health.set("connecting");
  health.set("retrying"); // that attempt failed: still the same way back
  health.set("connecting");
  health.set("subscribed");
  assert.equal(health.snapshot().reconnects, 1);
  health.set("superseded"); // another client took the bot
  health.set("connecting"); // the slow retry
  health.set("subscribed");
  assert.equal(health.snapshot().reconnects, 2);
});

Deno.test("before the first connect nothing counts as dead", () => {
  const { health, advance } = trackerAt();
  health.set("connecting");
  advance(20_000);
  assert.equal(health.snapshot().longest_dead_window_ms, 0);
  assert.equal(health.snapshot().down_since, null);
});

Deno.test("every change of state is heard; setting the same state again is not a change", () => {
  const heard: string[] = [];
  const health = new LinkHealthTracker(undefined, (state) => heard.push(state));
  health.set("connecting");
  health.set("subscribed");
  health.set("subscribed");
  health.inbound("dm");
  health.set("retrying");
  health.set("subscribed");
  assert.deepEqual(heard, ["subscribed", "receiving", "retrying", "subscribed"]);
});
