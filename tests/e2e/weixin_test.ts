import assert from "node:assert/strict";
import type { RequestRecord } from "../fakes/ilink_server.ts";
import { waitFor } from "../gateway/_gateway.ts";
import { startWeixinGateway, waitForSent, weixinHealth } from "./_weixin.ts";

const POST_HEADERS = [
  "content-type",
  "authorizationtype",
  "x-wechat-uin",
  "ilink-app-id",
  "ilink-app-clientversion",
  "authorization",
];

Deno.test("an inbound text is answered with sendmessage on the peer's context token, and every request carries iLink's headers", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  const { contextToken } = ilink.inbound({ from: "alice@im.wechat", text: "hello weixin" });
  const reply = await waitForSent(ilink, "hello weixin");
  assert.equal(reply.msg.to_user_id, "alice@im.wechat");
  assert.equal(reply.msg.message_type, 2);
  assert.equal(reply.msg.message_state, 2);
  assert.equal(reply.contextToken, contextToken);
  assert.match(reply.clientId, /^hermes-weixin-[0-9a-f]{32}$/);
  const posts = ilink.requests.filter((r) => r.method === "POST" && r.path.startsWith("/ilink/"));
  assert.ok(posts.length >= 2);
  for (const request of posts) {
    for (const name of POST_HEADERS) {
      assert.ok(request.headers.get(name), `${request.endpoint} has ${name}`);
    }
    assert.equal(request.headers.get("authorization"), `Bearer ${ilink.token}`);
    assert.equal(request.headers.get("ilink-app-clientversion"), "131584");
    assert.match(atob(request.headers.get("x-wechat-uin")!), /^\d+$/);
    assert.equal(
      (request.body as { base_info?: { channel_version?: string } }).base_info?.channel_version,
      "2.2.0",
    );
  }
  const health = await weixinHealth(setup);
  assert.equal(health.state, "receiving");
});

Deno.test("a restart between two batches resumes from the saved cursor: nothing answered twice, nothing skipped", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  ilink.inbound({ from: "alice@im.wechat", text: "first batch" });
  await waitForSent(ilink, "first batch");
  await setup.gateway[Symbol.asyncDispose](); // a planned stop: the cursor is saved
  const polls = ilink.requestsTo("getupdates");
  const cursorAtStop = pollCursor(polls.at(-1)!);
  assert.notEqual(cursorAtStop, "", "the cursor moved past the first batch");
  ilink.inbound({ from: "alice@im.wechat", text: "sent while it was down" });
  await setup.restart();
  await waitForSent(ilink, "sent while it was down");
  const firstPollAfter = ilink.requestsTo("getupdates")[polls.length]!;
  assert.equal(pollCursor(firstPollAfter), cursorAtStop, "the poll resumed from the saved cursor");
  assert.deepEqual(ilink.sent.map((s) => s.text), ["first batch", "sent while it was down"]);
});

Deno.test("kill -9 after a batch is accepted and before its reply went out: the reply is sent once after the restart", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  ilink.failNext("sendmessage", { delayMs: 4_000 }); // the first try hangs until the gateway is dead
  ilink.inbound({ from: "bob@im.wechat", text: "answer me once" });
  await waitFor("the first try of the reply", () => ilink.requestsTo("sendmessage").length === 1);
  setup.gateway.child.kill("SIGKILL");
  assert.equal(await setup.gateway.exited, 137);
  ilink.inbound({ from: "bob@im.wechat", text: "and then this" });
  await setup.restart();
  await waitForSent(ilink, "and then this");
  await waitFor(
    "the hung first try to land",
    () => ilink.sent.some((s) => s.text === "answer me once"),
  );
  await new Promise((resolve) => setTimeout(resolve, 500)); // a second answer would show now
  assert.deepEqual(ilink.sent.map((s) => s.text).sort(), ["and then this", "answer me once"]);
  const tries = ilink.requestsTo("sendmessage").filter((r) => sentText(r) === "answer me once");
  assert.ok(tries.length >= 2, "it was sent again after the restart");
  assert.equal(new Set(tries.map((r) => clientIdOf(r))).size, 1, "with the same client_id");
});

function pollCursor(request: RequestRecord): string {
  return String((request.body as { get_updates_buf?: string }).get_updates_buf ?? "");
}

function sentText(request: RequestRecord): string {
  const msg = (request.body as { msg?: { item_list?: { text_item?: { text?: string } }[] } }).msg;
  return (msg?.item_list ?? []).map((i) => i.text_item?.text ?? "").join("\n");
}

function clientIdOf(request: RequestRecord): string {
  return String((request.body as { msg?: { client_id?: string } }).msg?.client_id);
}
