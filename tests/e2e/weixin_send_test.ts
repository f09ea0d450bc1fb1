import assert from "node:assert/strict";
import { runHermes } from "../_helpers.ts";
import { waitFor } from "../gateway/_gateway.ts";
import { startWeixinGateway, waitForSent } from "./_weixin.ts";

Deno.test("a long reply goes out as bubbles of at most 2,000 characters, in order, none empty, each with its own client_id", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  const paragraphs = Array.from(
    { length: 30 },
    (_, i) => `Paragraph ${i + 1}: ${"lorem ipsum dolor sit amet ".repeat(8).trim()}.`,
  );
  const text = paragraphs.join("\n\n");
  ilink.inbound({ from: "hana@im.wechat", text });
  await waitFor(
    "the whole reply",
    () => ilink.sent.map((s) => s.text).join("\n\n").includes("Paragraph 30:"),
  );
  const bubbles = ilink.sent.map((s) => s.text);
  assert.ok(
    bubbles.length >= 3,
    `${text.length} characters need several bubbles: ${bubbles.length}`,
  );
  for (const bubble of bubbles) {
    assert.ok(bubble.trim() !== "" && [...bubble].length <= 2000, `bubble of ${bubble.length}`);
  }
  assert.equal(bubbles.join("\n\n").replace(/\s+/g, " "), text.replace(/\s+/g, " "));
  assert.equal(new Set(ilink.sent.map((s) => s.clientId)).size, bubbles.length);
});

Deno.test("a bubble whose answer was lost is sent again with the same client_id: the user sees it once", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  ilink.failNext("sendmessage", { drop: true }, 2);
  ilink.inbound({ from: "ivan@im.wechat", text: "are replies idempotent?" });
  await waitForSent(ilink, "are replies idempotent?");
  const tries = ilink.requestsTo("sendmessage");
  assert.equal(tries.length, 3);
  const ids = tries.map((r) => (r.body as { msg: { client_id: string } }).msg.client_id);
  assert.equal(new Set(ids).size, 1, `one client_id for every try: ${ids}`);
  assert.equal(ilink.sent.length, 1);
});

Deno.test("malformed updates are skipped and logged; the gateway keeps polling and answers the next message", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  const garbage = [
    { items: "not a list" },
    { from: "", text: "no sender" },
    { from: ilink.accountId, text: "the bot's own echo" },
    { items: [{ type: 2, image_item: { media: { encrypt_query_param: 42 } } }] },
    { items: [null, 7, "x", { type: 1, text_item: { text: { nested: true } } }] },
    { text: "x".repeat(1_000_000) },
  ];
  for (const message of garbage) ilink.inbound(message as never);
  ilink.inbound({ from: "judy@im.wechat", text: "after the garbage" });
  await waitForSent(ilink, "after the garbage", 30_000);
  assert.ok(!ilink.sent.some((s) => s.text === "no sender" || s.text === "the bot's own echo"));
  const state = await Promise.race([setup.gateway.exited.then(() => "exited"), "running"]);
  assert.equal(state, "running", "the gateway is still up");
});

Deno.test("pieces of a long message the client split arrive as one message and get one answer", async () => {
  await using setup = await startWeixinGateway({ env: { WEIXIN_TEXT_BATCH_DELAY_SECONDS: "0.5" } });
  const { ilink } = setup;
  // Lines over 48 characters: the reply is not a "chatty" block sent line by line.
  const one = "part one of my question, which is long enough to be split by the client";
  const two = "part two of it, arriving a moment later as a message of its own";
  ilink.inbound({ from: "kim@im.wechat", text: one });
  ilink.inbound({ from: "kim@im.wechat", text: two });
  await waitForSent(ilink, `${one}\n${two}`);
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal(ilink.sent.length, 1);
});

Deno.test("a group message (room_id) is answered in the room", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  ilink.inbound({ from: "leo@im.wechat", roomId: "team@chatroom", text: "hello room" });
  const reply = await waitForSent(ilink, "hello room");
  assert.equal(reply.msg.to_user_id, "team@chatroom");
});

Deno.test("hermes send weixin:<peer> goes out at once on the peer's newest context token", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  ilink.inbound({ from: "mia@im.wechat", text: "remember me" });
  await waitForSent(ilink, "remember me");
  const result = await runHermes(["send", "weixin:mia@im.wechat", "the build is green"], {
    home: setup.home,
    env: { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${setup.home}/locks` },
  });
  assert.equal(result.code, 0, result.stderr);
  const sent = await waitForSent(ilink, "the build is green");
  assert.equal(sent.contextToken, ilink.contextToken("mia@im.wechat"));
});

Deno.test("kill -9 in the middle of a reply of several bubbles: after the restart only the bubbles not yet sent go out", async () => {
  // No client_id dedup in the simulator: a bubble sent twice would show twice.
  await using setup = await startWeixinGateway({
    server: { dedupClientIds: false },
    env: { WEIXIN_SEND_CHUNK_DELAY_SECONDS: "1" },
  });
  const { ilink } = setup;
  ilink.inbound({ from: "quinn@im.wechat", text: "first line\nsecond line\nthird line" });
  await waitFor("the first bubble", () => ilink.sent.length === 1);
  await new Promise((resolve) => setTimeout(resolve, 300)); // its progress is on disk
  setup.gateway.child.kill("SIGKILL");
  await setup.gateway.exited;
  await setup.restart();
  await waitFor("the other bubbles", () => ilink.sent.length >= 3, 20_000);
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // a repeat would show now
  assert.deepEqual(ilink.sent.map((s) => s.text), ["first line", "second line", "third line"]);
});

Deno.test("groups are off unless group_policy says otherwise, even with GATEWAY_ALLOW_ALL_USERS", async () => {
  await using setup = await startWeixinGateway({ env: { WEIXIN_GROUP_POLICY: "" } });
  const { ilink } = setup;
  ilink.inbound({ from: "rose@im.wechat", roomId: "team@chatroom", text: "anyone in the room?" });
  ilink.inbound({ from: "rose@im.wechat", text: "and in private?" });
  await waitForSent(ilink, "and in private?");
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.deepEqual(ilink.sent.map((s) => s.text), ["and in private?"]);
});
