import assert from "node:assert/strict";
import type { AgentMessage } from "../../lib/agent/agent.ts";
import { RecentHistory } from "../../lib/gateway/recent_history.ts";

const user = (content: string): AgentMessage => ({ role: "user", content });

Deno.test("a session's history is read once, then kept in memory as turns add to it", async () => {
  const recent = new RecentHistory({ perSession: 3 });
  let reads = 0;
  const load = () => (reads++, Promise.resolve([user("a"), user("b")]));
  assert.deepEqual((await recent.of("k", 1, load)).map((m) => m.content), ["a", "b"]);
  recent.add("k", 1, [user("c"), { role: "assistant", content: "d" }]);
  assert.deepEqual((await recent.of("k", 1, load)).map((m) => m.content), ["b", "c", "d"]);
  assert.equal(reads, 1, "the transcript was read once");
});

Deno.test("a new session of the key is read afresh; a forgotten key is read again", async () => {
  const recent = new RecentHistory({ perSession: 10 });
  await recent.of("k", 1, () => Promise.resolve([user("old")]));
  recent.add("k", 2, [user("lost")]); // not held: ignored, read when needed
  assert.deepEqual(await recent.of("k", 2, () => Promise.resolve([])), [], "after /new: empty");
  recent.add("k", 2, [user("new")]);
  recent.forget("k");
  assert.deepEqual(
    (await recent.of("k", 2, () => Promise.resolve([user("from disk")]))).map((m) => m.content),
    ["from disk"],
  );
});

Deno.test("at most `sessions` sessions are held: the least recently used is dropped", async () => {
  const recent = new RecentHistory({ perSession: 5, sessions: 2 });
  const reads: string[] = [];
  const load = (key: string) => () => (reads.push(key), Promise.resolve([user(key)]));
  await recent.of("a", 1, load("a"));
  await recent.of("b", 2, load("b"));
  await recent.of("a", 1, load("a")); // a is now the most recent
  await recent.of("c", 3, load("c")); // b goes
  assert.equal(recent.size, 2);
  await recent.of("a", 1, load("a"));
  await recent.of("b", 2, load("b"));
  assert.deepEqual(reads, ["a", "b", "c", "b"]);
});

Deno.test("what a caller does with its copy never changes what is held", async () => {
  const recent = new RecentHistory({ perSession: 5 });
  const copy = await recent.of("k", 1, () => Promise.resolve([user("a")]));
  copy.push(user("mine"));
  assert.deepEqual((await recent.of("k", 1, () => Promise.resolve([]))).map((m) => m.content), [
    "a",
  ]);
});
