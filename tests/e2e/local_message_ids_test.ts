import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";

Deno.test("two local users whose names and client ids run together both get their own answer", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);

  await using alice = new ChatClient(local.url, "alice");
  await using aliceB = new ChatClient(local.url, "alice-b");
  await alice.ready();
  await aliceB.ready();
  // Once `ws-<user>-<id>`: both were ws-alice-b-1, and the second was dropped as a repeat.
  assert.equal(await alice.ask("b-1", "from alice"), "from alice");
  assert.equal(await aliceB.ask("1", "from alice-b"), "from alice-b");

  await using inRoom = new ChatClient(local.url, "ann", "team");
  await using inRoomB = new ChatClient(local.url, "ann-x", "team");
  await inRoom.ready();
  await inRoomB.ready();
  assert.equal(await inRoom.ask("x-2", "from ann"), "from ann");
  assert.equal(await inRoomB.ask("2", "from ann-x"), "from ann-x");

  // A resend of one id from one user is still a repeat.
  const accepted = () => alice.frames.filter((f) => f.type === "accepted" && f.id === "b-1");
  alice.say("b-1", "from alice");
  await alice.until("the resend accepted", () => accepted().length === 2);
  assert.equal(accepted()[1]!.message_id, accepted()[0]!.message_id);
});
