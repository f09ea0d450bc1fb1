import assert from "node:assert/strict";
import { IlinkClient, IlinkError, ilinkRefusal } from "../../../lib/platforms/weixin/api.ts";
import { IlinkServer } from "../../fakes/ilink_server.ts";

Deno.test("ilinkRefusal() calls −14 in ret or errcode an expired session", () => {
  for (
    const answer of [{ ret: -14 }, { errcode: -14 }, { ret: 0, errcode: -14 }, {
      ret: -14,
      errmsg: "rate limit",
    }]
  ) {
    const refusal = ilinkRefusal("getupdates", answer);
    assert.equal(refusal?.kind, "session_expired", JSON.stringify(answer));
    assert.equal(refusal?.retryable, true);
    assert.equal(refusal?.endpoint, "getupdates");
  }
});

Deno.test("ilinkRefusal() calls −2 saying unknown error or prepare failed an expired session, in any case", async (t) => {
  await t.step("in errmsg", () => {
    for (
      const errmsg of [
        "unknown error",
        "Unknown Error",
        "UNKNOWN ERROR",
        "prepare failed",
        "Prepare Failed",
        "send: prepare failed (x)",
      ]
    ) {
      assert.equal(
        ilinkRefusal("sendmessage", { ret: -2, errmsg })?.kind,
        "session_expired",
        errmsg,
      );
      assert.equal(
        ilinkRefusal("sendmessage", { errcode: -2, errmsg })?.kind,
        "session_expired",
        errmsg,
      );
    }
  });
  await t.step("in msg", () => {
    assert.equal(
      ilinkRefusal("sendmessage", { ret: -2, msg: "Unknown error" })?.kind,
      "session_expired",
    );
    assert.equal(
      ilinkRefusal("sendmessage", { ret: -2, msg: "PREPARE FAILED" })?.kind,
      "session_expired",
    );
  });
  await t.step("in msg when errmsg is empty", () => {
    assert.equal(
      ilinkRefusal("sendmessage", { ret: -2, errmsg: "", msg: "prepare failed" })?.kind,
      "session_expired",
    );
  });
  await t.step("in msg when errmsg says something else", () => {
    assert.equal(
      ilinkRefusal("sendmessage", { ret: -2, errmsg: "system busy", msg: "unknown error" })?.kind,
      "session_expired",
    );
  });
});

Deno.test("ilinkRefusal() calls any other −2 a rate limit", () => {
  for (
    const answer of [{ ret: -2 }, { ret: -2, errmsg: "rate limit" }, {
      errcode: -2,
      msg: "too fast",
    }, { ret: "-2" }]
  ) {
    const refusal = ilinkRefusal("sendmessage", answer);
    assert.equal(refusal?.kind, "rate_limited", JSON.stringify(answer));
    assert.equal(refusal?.retryable, true);
  }
});

Deno.test("ilinkRefusal() calls another nonzero code an error that is not retried", () => {
  const refusal = ilinkRefusal("sendmessage", { ret: -5, errcode: 3, errmsg: "bad item" });
  assert.ok(refusal instanceof IlinkError);
  assert.equal(refusal.kind, "error");
  assert.equal(refusal.retryable, false);
  assert.equal(refusal.ret, -5);
  assert.equal(refusal.errcode, 3);
  assert.equal(refusal.message, "iLink sendmessage error: ret=-5 errcode=3 errmsg=bad item");
  assert.equal(ilinkRefusal("getconfig", { errcode: 40001 })?.kind, "error");
  assert.equal(ilinkRefusal("getconfig", { ret: 1 })?.kind, "error");
});

Deno.test("ilinkRefusal() answers undefined for a success", () => {
  for (
    const answer of [
      {},
      { ret: 0 },
      { errcode: 0 },
      { ret: 0, errcode: 0 },
      { ret: null, errcode: null },
      { ret: null },
      { ret: "0" },
    ]
  ) {
    assert.equal(ilinkRefusal("getupdates", answer), undefined, JSON.stringify(answer));
  }
});

Deno.test("IlinkClient.post() sends the headers of 3.2 and base_info in compact JSON", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 300 });
  const api = new IlinkClient({ baseUrl: `${ilink.url}/`, token: ilink.token });
  const answer = await api.post("getconfig", { ilink_user_id: "u-1@im.wechat" }, 5000);
  assert.equal(answer.ret, 0);
  assert.equal(typeof answer.typing_ticket, "string");
  await api.post("getconfig", { ilink_user_id: "u-1@im.wechat" }, 5000);
  const [first, second] = ilink.requestsTo("getconfig");
  assert.ok(first && second);
  assert.equal(first.status, 200);
  assert.equal(first.path, "/ilink/bot/getconfig");
  const h = first.headers;
  assert.equal(h.get("content-type"), "application/json");
  assert.equal(h.get("authorizationtype"), "ilink_bot_token");
  assert.equal(h.get("content-length"), String(first.raw.length));
  assert.equal(h.get("ilink-app-id"), "bot");
  assert.equal(h.get("ilink-app-clientversion"), "131584");
  assert.equal(h.get("authorization"), `Bearer ${ilink.token}`);
  const uin = atob(h.get("x-wechat-uin") ?? "");
  assert.match(uin, /^\d{1,10}$/);
  assert.ok(Number(uin) <= 0xffffffff);
  assert.notEqual(second.headers.get("x-wechat-uin"), h.get("x-wechat-uin"), "new per call");
  assert.deepEqual(first.body, {
    ilink_user_id: "u-1@im.wechat",
    base_info: { channel_version: "2.2.0" },
  });
  const raw = new TextDecoder().decode(first.raw);
  assert.equal(raw, JSON.stringify(first.body), "compact JSON");
});

Deno.test("IlinkClient.post() without a token sends no Authorization", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 300 });
  const api = new IlinkClient({ baseUrl: ilink.url });
  const refused = await api.post("getconfig", { ilink_user_id: "u" }, 5000).catch((e) => e);
  assert.ok(refused instanceof IlinkError);
  assert.equal(refused.kind, "session_expired");
  assert.equal(ilink.requestsTo("getconfig")[0]?.headers.get("authorization"), null);
});

Deno.test("IlinkClient.get() sends only the two iLink-App headers", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 300 });
  const api = new IlinkClient({ baseUrl: ilink.url, token: ilink.token });
  const answer = await api.get("get_bot_qrcode?bot_type=3", 5000);
  assert.equal(typeof answer.qrcode, "string");
  const [request] = ilink.requestsTo("get_bot_qrcode");
  assert.equal(request?.method, "GET");
  assert.equal(request?.query.get("bot_type"), "3");
  const h = request!.headers;
  assert.equal(h.get("ilink-app-id"), "bot");
  assert.equal(h.get("ilink-app-clientversion"), "131584");
  for (const name of ["authorization", "authorizationtype", "x-wechat-uin", "content-type"]) {
    assert.equal(h.get(name), null, `${name} is not sent`);
  }
});

Deno.test("IlinkClient.get() can ask another host (a login redirect)", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 300 });
  const api = new IlinkClient({ baseUrl: ilink.url });
  await api.get("get_bot_qrcode?bot_type=3", 5000, { baseUrl: ilink.redirectUrl });
  assert.equal(ilink.requestsTo("get_bot_qrcode")[0]?.via, "redirect");
});

Deno.test("IlinkClient.post() turns an API refusal into its IlinkError", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 300 });
  const api = new IlinkClient({ baseUrl: ilink.url, token: ilink.token });
  ilink.failNext("getconfig", { ret: -2, errmsg: "rate limit" });
  const refused = await api.post("getconfig", { ilink_user_id: "u" }, 5000).catch((e) => e);
  assert.ok(refused instanceof IlinkError);
  assert.equal(refused.kind, "rate_limited");
  assert.equal(refused.ret, -2);
});

Deno.test("IlinkClient.post() makes HTTP 5xx a retryable http error and 4xx not retryable", async (t) => {
  await using ilink = await IlinkServer.start({ longPollMs: 300 });
  const api = new IlinkClient({ baseUrl: ilink.url, token: ilink.token });
  const call = () => api.post("getconfig", { ilink_user_id: "u" }, 5000).catch((e) => e);
  await t.step("500", async () => {
    ilink.failNext("getconfig", { http: 500 });
    const error = await call();
    assert.ok(error instanceof IlinkError);
    assert.equal(error.kind, "http");
    assert.equal(error.retryable, true);
    assert.equal(error.platformCode, "500");
    assert.equal(error.message, "iLink POST getconfig HTTP 500: simulated HTTP 500");
  });
  await t.step("503 and 429 are retried too", async () => {
    ilink.failNext("getconfig", { http: 503 });
    assert.equal((await call()).retryable, true);
    ilink.failNext("getconfig", { http: 429 });
    assert.equal((await call()).retryable, true);
  });
  await t.step("400", async () => {
    ilink.failNext("getconfig", { http: 400, body: "bad" });
    const error = await call();
    assert.ok(error instanceof IlinkError);
    assert.equal(error.kind, "http");
    assert.equal(error.retryable, false);
    assert.equal(error.message, "iLink POST getconfig HTTP 400: bad");
  });
  await t.step("the body is cut at 200 characters", async () => {
    ilink.failNext("getconfig", { http: 502, body: "x".repeat(300) });
    const error = await call();
    assert.equal(error.message, `iLink POST getconfig HTTP 502: ${"x".repeat(200)}`);
  });
  await t.step("a 200 that is not JSON is a retryable http error", async () => {
    ilink.failNext("getconfig", { http: 200, body: "<html>" });
    const error = await call();
    assert.ok(error instanceof IlinkError);
    assert.equal(error.kind, "http");
    assert.equal(error.retryable, true);
  });
});

Deno.test("IlinkClient.post() gives up after its timeout: a network error that timed out", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 300 });
  const api = new IlinkClient({ baseUrl: ilink.url, token: ilink.token });
  ilink.failNext("getconfig", { delayMs: 2000 });
  const started = performance.now();
  const error = await api.post("getconfig", { ilink_user_id: "u" }, 150).catch((e) => e);
  const took = performance.now() - started;
  assert.ok(error instanceof IlinkError, String(error));
  assert.equal(error.kind, "network");
  assert.equal(error.timedOut, true);
  assert.equal(error.retryable, true);
  assert.match(error.message, /no answer within 150 ms/);
  assert.ok(took < 1500, `gave up after ${took} ms`);
});

Deno.test("IlinkClient.post() makes a dropped connection a network error that did not time out", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 300 });
  const api = new IlinkClient({ baseUrl: ilink.url, token: ilink.token });
  ilink.failNext("getconfig", { drop: true });
  const error = await api.post("getconfig", { ilink_user_id: "u" }, 5000).catch((e) => e);
  assert.ok(error instanceof IlinkError, String(error));
  assert.equal(error.kind, "network");
  assert.equal(error.timedOut, false);
  assert.equal(error.retryable, true);
  assert.match(error.message, /^iLink POST getconfig failed: /);
});

Deno.test("IlinkClient.post() rethrows the caller's abort, not an IlinkError", async (t) => {
  await using ilink = await IlinkServer.start({ longPollMs: 300 });
  const api = new IlinkClient({ baseUrl: ilink.url, token: ilink.token });
  await t.step("aborted while waiting", async () => {
    ilink.failNext("getconfig", { delayMs: 2000 });
    const controller = new AbortController();
    const reason = new Error("stopping");
    const pending = api.post("getconfig", { ilink_user_id: "u" }, 5000, controller.signal)
      .catch((e) => e);
    await ilink.waitForRequests("getconfig", 1);
    controller.abort(reason);
    const error = await pending;
    assert.equal(error, reason);
  });
  await t.step("aborted before the call", async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await api.post("getconfig", { ilink_user_id: "u" }, 5000, controller.signal)
      .catch((e) => e);
    assert.ok(!(error instanceof IlinkError), String(error));
    assert.equal((error as Error).name, "AbortError");
  });
});
