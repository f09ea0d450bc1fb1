import assert from "node:assert/strict";
import { BoundedMap } from "../../lib/util/bounded_map.ts";

Deno.test("a bounded map filled past its cap keeps the most recently set entries", () => {
  const map = new BoundedMap<string, number>(1000);
  for (let i = 0; i < 1500; i++) map.set(`chat-${i}`, i);
  assert.equal(map.size, 1000);
  assert.equal(map.has("chat-499"), false, "the oldest are gone");
  assert.equal(map.get("chat-500"), 500);
  assert.equal(map.get("chat-1499"), 1499);
});

Deno.test("setting a key again makes it the newest, so it outlives the others", () => {
  const map = new BoundedMap<string, string>(2);
  map.set("alice", "t1").set("bob", "t2").set("alice", "t3").set("carol", "t4");
  assert.deepEqual([...map], [["alice", "t3"], ["carol", "t4"]]);
});

Deno.test("onEvict gets each entry the cap pushed out, not those deleted by hand", () => {
  const evicted: string[] = [];
  const map = new BoundedMap<string, number>(2, [], { onEvict: (key) => evicted.push(key) });
  map.set("a", 1).set("b", 2);
  map.delete("a");
  map.set("c", 3).set("d", 4);
  assert.deepEqual(evicted, ["b"]);
  assert.deepEqual([...map.keys()], ["c", "d"]);
});

Deno.test("entries given to the constructor are bounded too", () => {
  const map = new BoundedMap(2, [["a", 1], ["b", 2], ["c", 3]]);
  assert.deepEqual([...map.keys()], ["b", "c"]);
});

Deno.test("a cap that is not a positive integer is refused", () => {
  assert.throws(() => new BoundedMap(0), RangeError);
  assert.throws(() => new BoundedMap(1.5), RangeError);
});
