import assert from "node:assert/strict";
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
