import assert from "node:assert/strict";
import { IlinkServer, type RequestRecord } from "../fakes/ilink_server.ts";
import { runHermes, tempDir } from "../_helpers.ts";
import { startGateway, waitFor } from "../gateway/_gateway.ts";
import { startWeixinGateway, waitForSent, weixinEnv, weixinHealth } from "./_weixin.ts";

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
  const uins = new Set(posts.map((r) => r.headers.get("x-wechat-uin")));
  assert.ok(uins.size > 1, "a new X-WECHAT-UIN for every call");
  const health = await weixinHealth(setup);
  assert.equal(health.state, "receiving");
});

Deno.test("a restart between two batches resumes from the saved cursor: nothing answered twice, nothing skipped", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  ilink.inbound({ from: "alice@im.wechat", text: "first batch" });
  await waitForSent(ilink, "first batch");
  const env = { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${setup.home}/locks` };
  const stop = await runHermes(["gateway", "stop"], { home: setup.home, env }); // a planned stop
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(await setup.gateway.exited, 0);
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

Deno.test("the cursor and the context tokens are kept in the account's files, mode 0600", async () => {
  await using setup = await startWeixinGateway();
  const { ilink, home } = setup;
  const { contextToken } = ilink.inbound({ from: "nina@im.wechat", text: "keep my token" });
  await waitForSent(ilink, "keep my token");
  const dir = `${home}/platforms/weixin/accounts`;
  const tokensFile = `${dir}/${ilink.accountId}.context-tokens.json`;
  const syncFile = `${dir}/${ilink.accountId}.sync.json`;
  await waitFor("both files", async () => {
    const tokens = await Deno.readTextFile(tokensFile).catch(() => "{}");
    return JSON.parse(tokens)["nina@im.wechat"] === contextToken;
  });
  for (const file of [tokensFile, syncFile]) {
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600, file);
  }
  const sync = JSON.parse(await Deno.readTextFile(syncFile));
  assert.equal(typeof sync.get_updates_buf, "string");
  const health = await weixinHealth(setup);
  assert.equal((health.details as Record<string, unknown>).account_id, ilink.accountId);
  assert.ok((health.details as Record<string, unknown>).cursor_saved_at);
});

Deno.test("a second gateway on this machine with the same token waits for the credential lock instead of polling too", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  await using other = tempDir();
  const env = { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${setup.home}/locks` };
  await using second = await startGateway(other.path, env);
  await waitFor(
    "the second gateway to try the token",
    () => /credential is in use/.test(second.stderr()),
  );
  const pollers = new Set(ilink.requestsTo("getupdates").map((r) => r.headers.get("x-wechat-uin")));
  assert.ok(pollers.size > 0);
  const status = await runHermes(["gateway", "status", "--json"], { home: other.path, env });
  const health = JSON.parse(status.stdout).platforms.weixin;
  assert.equal(health.connected, false);
  assert.match(health.last_error.message, /in use by the gateway PID \d+/);
  ilink.inbound({ from: "olga@im.wechat", text: "only one answer" });
  await waitForSent(ilink, "only one answer");
  await runHermes(["gateway", "stop"], { home: setup.home, env });
  ilink.inbound({ from: "olga@im.wechat", text: "the second takes over" });
  await waitForSent(ilink, "the second takes over", 40_000);
  assert.equal(ilink.sent.filter((s) => s.text === "only one answer").length, 1);
});

Deno.test("after hermes weixin login the gateway needs only the account id: token and base URL come from the account file", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 500 });
  await using home = tempDir();
  ilink.qrScript([{ status: "scaned" }, { status: "confirmed" }]);
  const login = await runHermes(["weixin", "login", "--base-url", ilink.url, "--json"], {
    home: home.path,
  });
  assert.equal(login.code, 0, login.stderr);
  assert.equal(JSON.parse(login.stdout).account_id, ilink.accountId);
  const env = { ...weixinEnv(ilink), WEIXIN_TOKEN: "", WEIXIN_BASE_URL: "" };
  await using _gateway = await startGateway(home.path, env);
  ilink.inbound({ from: "pia@im.wechat", text: "logged in by QR" });
  await waitForSent(ilink, "logged in by QR");
});

Deno.test("one person saying the same thing in a DM and then in a room is answered in both", async () => {
  await using setup = await startWeixinGateway();
  const { ilink } = setup;
  ilink.inbound({ from: "ann@im.wechat", text: "same words" });
  await waitForSent(ilink, "same words");
  // Once dropped as "repeated under a new id": the content key named the sender, not the chat.
  ilink.inbound({ from: "ann@im.wechat", roomId: "team@chatroom", text: "same words" });
  await waitFor(
    "the reply in the room",
    () => ilink.sent.some((s) => s.text === "same words" && s.msg.to_user_id === "team@chatroom"),
    15_000,
  );
});
