import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { type Fault, Faults, fileItem, IlinkServer, imageItem } from "./ilink_server.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: Json;
}

/** The POST headers of 3.2 (a new X-WECHAT-UIN each call). */
function postHeaders(token: string): Record<string, string> {
  const uin = String(crypto.getRandomValues(new Uint32Array(1))[0]);
  return {
    "Content-Type": "application/json",
    AuthorizationType: "ilink_bot_token",
    "X-WECHAT-UIN": btoa(uin),
    "iLink-App-Id": "bot",
    "iLink-App-ClientVersion": "131584",
    Authorization: `Bearer ${token}`,
  };
}

async function reply(response: Response): Promise<Reply> {
  const text = await response.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** POSTs like a client would: payload + base_info, the 3.2 headers; `headers` null removes one. */
async function post(
  server: IlinkServer,
  endpoint: string,
  payload: Record<string, unknown>,
  options: {
    token?: string;
    headers?: Record<string, string | null>;
    raw?: string;
    base?: string;
  } = {},
): Promise<Reply> {
  const headers = new Headers(postHeaders(options.token ?? server.token));
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === null) headers.delete(name);
    else headers.set(name, value);
  }
  const body = options.raw ??
    JSON.stringify({ ...payload, base_info: { channel_version: "2.2.0" } });
  const base = options.base ?? server.url;
  return reply(await fetch(`${base}/ilink/bot/${endpoint}`, { method: "POST", headers, body }));
}

/** A GET with the two iLink-App headers (QR login). */
async function get(base: string, path: string, headers?: Record<string, string>): Promise<Reply> {
  return reply(
    await fetch(`${base}${path}`, {
      headers: headers ?? { "iLink-App-Id": "bot", "iLink-App-ClientVersion": "131584" },
    }),
  );
}

function textMsg(to: string, text: string, extra: Record<string, unknown> = {}) {
  return {
    msg: {
      from_user_id: "",
      to_user_id: to,
      client_id: `hermes-weixin-${crypto.randomUUID().replaceAll("-", "")}`,
      message_type: 2,
      message_state: 2,
      item_list: [{ type: 1, text_item: { text } }],
      ...extra,
    },
  };
}

const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const bytesOf = (text: string) => new TextEncoder().encode(text);

function encrypt(key: Uint8Array, plain: Uint8Array): Uint8Array<ArrayBuffer> {
  const cipher = createCipheriv("aes-128-ecb", key, null);
  return new Uint8Array([...cipher.update(plain), ...cipher.final()]);
}

function decrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  const decipher = createDecipheriv("aes-128-ecb", key, null);
  return new Uint8Array([...decipher.update(data), ...decipher.final()]);
}

/** The key a client reads from aes_key (3.6). */
function keyOf(aesKey: string): Uint8Array {
  const bytes = Uint8Array.from(atob(aesKey), (c) => c.charCodeAt(0));
  if (bytes.length === 16) return bytes;
  const text = new TextDecoder().decode(bytes);
  return Uint8Array.from(text.match(/../g)!, (pair) => parseInt(pair, 16));
}

/** getuploadurl, then the CDN POST, as 3.6 describes; returns both answers. */
async function upload(
  server: IlinkServer,
  plain: Uint8Array,
  options: {
    mediaType?: number;
    key?: Uint8Array;
    body?: Uint8Array<ArrayBuffer>;
    method?: string;
  } = {},
) {
  const key = options.key ?? crypto.getRandomValues(new Uint8Array(16));
  const filekey = hex(crypto.getRandomValues(new Uint8Array(16)));
  const urlReply = await post(server, "getuploadurl", {
    filekey,
    media_type: options.mediaType ?? 3,
    to_user_id: "u-1@im.wechat",
    rawsize: plain.length,
    rawfilemd5: md5(plain),
    filesize: Math.floor((plain.length + 16) / 16) * 16,
    no_need_thumb: true,
    aeskey: hex(key),
  });
  const param = urlReply.json.upload_param as string;
  const cdn = await reply(
    await fetch(
      `${server.cdnUrl}/upload?encrypted_query_param=${encodeURIComponent(param)}&filekey=${
        encodeURIComponent(filekey)
      }`,
      {
        method: options.method ?? "POST",
        headers: { "Content-Type": "application/octet-stream" },
        body: options.body ?? encrypt(key, plain),
      },
    ),
  );
  return { key, filekey, param, urlReply, cdn };
}

Deno.test("getupdates holds an empty poll for longPollMs, then answers no messages and a cursor", async () => {
  await using server = await IlinkServer.start({ longPollMs: 300 });
  const started = performance.now();
  const answer = await post(server, "getupdates", { get_updates_buf: "" });
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 280 && elapsed < 2000, `held ${elapsed} ms`);
  assert.equal(answer.status, 200);
  assert.equal(answer.json.ret, 0);
  assert.deepEqual(answer.json.msgs, []);
  assert.equal(typeof answer.json.get_updates_buf, "string");
  assert.notEqual(answer.json.get_updates_buf, "");
  assert.equal(answer.json.longpolling_timeout_ms, 300);
  assert.equal(server.requestsTo("getupdates")[0]?.status, 200);
});

Deno.test("getupdates answers a held poll as soon as a message is queued", async () => {
  await using server = await IlinkServer.start({ longPollMs: 5000 });
  const started = performance.now();
  const poll = post(server, "getupdates", { get_updates_buf: "" });
  await server.waitForRequests("getupdates", 1);
  setTimeout(() => server.inbound({ text: "hi" }), 50);
  const answer = await poll;
  assert.ok(performance.now() - started < 2000);
  assert.deepEqual(answer.json.msgs.map((m: Json) => m.item_list[0].text_item.text), ["hi"]);
});

Deno.test("getupdates delivers what follows the cursor in batches; the same cursor replays", async () => {
  await using server = await IlinkServer.start({ longPollMs: 200, batchSize: 2 });
  for (const text of ["a", "b", "c"]) server.inbound({ text });
  const texts = (r: Reply) => r.json.msgs.map((m: Json) => m.item_list[0].text_item.text);
  const first = await post(server, "getupdates", { get_updates_buf: "" });
  assert.deepEqual(texts(first), ["a", "b"]);
  const second = await post(server, "getupdates", { get_updates_buf: first.json.get_updates_buf });
  assert.deepEqual(texts(second), ["c"]);
  const again = await post(server, "getupdates", { get_updates_buf: first.json.get_updates_buf });
  assert.deepEqual(texts(again), ["c"], "a client that did not save its cursor sees c again");
  const idle = await post(server, "getupdates", { get_updates_buf: second.json.get_updates_buf });
  assert.deepEqual(texts(idle), []);
  assert.equal(idle.json.get_updates_buf, second.json.get_updates_buf);
});

Deno.test("an empty, missing or unknown cursor starts from the oldest message kept", async () => {
  await using server = await IlinkServer.start({ longPollMs: 200, batchSize: 2 });
  for (const text of ["a", "b", "c"]) server.inbound({ text });
  const texts = (r: Reply) => r.json.msgs.map((m: Json) => m.item_list[0].text_item.text);
  for (const cursor of ["", "garbage!", btoa(JSON.stringify({ seq: 99 })), undefined]) {
    const answer = await post(server, "getupdates", { get_updates_buf: cursor });
    assert.deepEqual(texts(answer), ["a", "b"], `cursor ${JSON.stringify(cursor)}`);
  }
});

Deno.test("inbound messages have the 3.5 shape, with room_id and ref_msg only when given", async () => {
  await using server = await IlinkServer.start({ longPollMs: 100 });
  const dm = server.inbound({ text: "hello" });
  const ref = { message_item: { type: 1, text_item: { text: "earlier" } }, title: "t" };
  const group = server.inbound({
    from: "u-2@im.wechat",
    roomId: "r-1@chatroom",
    items: [{ type: 3, voice_item: { text: "spoken" } }],
    refMsg: ref,
    messageId: "m-fixed",
  });
  const before = Date.now();
  const [a, b] = (await post(server, "getupdates", { get_updates_buf: "" })).json.msgs;
  assert.deepEqual(Object.keys(a).sort(), [
    "context_token",
    "create_time_ms",
    "from_user_id",
    "item_list",
    "message_id",
    "msg_type",
    "to_user_id",
  ]);
  assert.equal(a.message_id, dm.messageId);
  assert.equal(a.from_user_id, "u-1@im.wechat");
  assert.equal(a.to_user_id, "bot-1@im.bot");
  assert.equal(a.msg_type, 1);
  assert.equal(a.context_token, "ctx-u-1@im.wechat-1");
  assert.equal(a.context_token, dm.contextToken);
  assert.deepEqual(a.item_list, [{ type: 1, text_item: { text: "hello" } }]);
  assert.ok(Math.abs(a.create_time_ms - before) < 5000);
  assert.equal(b.message_id, "m-fixed");
  assert.equal(b.room_id, "r-1@chatroom");
  assert.deepEqual(b.ref_msg, ref);
  assert.deepEqual(b.item_list, [{ type: 3, voice_item: { text: "spoken" } }]);
  assert.equal(b.context_token, group.contextToken);
  assert.equal(group.seq, dm.seq + 1);
  assert.equal(server.inbound({ text: "again" }).contextToken, dm.contextToken, "one per peer");
});

Deno.test("every POST is checked for the 3.2 headers and base_info, and still recorded", async (t) => {
  await using server = await IlinkServer.start({ longPollMs: 50 });
  const cases: [string, Record<string, string | null>, RegExp][] = [
    ["a text/plain Content-Type", { "Content-Type": "text/plain" }, /Content-Type/],
    ["no AuthorizationType", { AuthorizationType: null }, /^Missing header AuthorizationType/],
    ["a wrong AuthorizationType", { AuthorizationType: "bearer" }, /AuthorizationType/],
    ["no X-WECHAT-UIN", { "X-WECHAT-UIN": null }, /^Missing header X-WECHAT-UIN/],
    ["a UIN that is not base64", { "X-WECHAT-UIN": "12345" }, /X-WECHAT-UIN/],
    ["a UIN of a non-number", { "X-WECHAT-UIN": btoa("abc") }, /X-WECHAT-UIN/],
    ["a UIN over uint32", { "X-WECHAT-UIN": btoa("4294967296") }, /X-WECHAT-UIN/],
    ["no iLink-App-Id", { "iLink-App-Id": null }, /^Missing header iLink-App-Id/],
    ["a wrong client version", { "iLink-App-ClientVersion": "1" }, /iLink-App-ClientVersion/],
  ];
  for (const [name, headers, message] of cases) {
    await t.step(`${name} answers 400 naming the header`, async () => {
      const answer = await post(server, "getconfig", { ilink_user_id: "u" }, { headers });
      assert.equal(answer.status, 400);
      assert.match(answer.text, message);
      assert.ok(!answer.text.includes("\n"), "one line");
    });
  }
  await t.step("a missing or wrong base_info answers 400", async () => {
    for (const raw of ['{"ilink_user_id":"u"}', '{"base_info":{"channel_version":"1.0"}}']) {
      const answer = await post(server, "getconfig", {}, { raw });
      assert.equal(answer.status, 400);
      assert.match(answer.text, /base_info/);
    }
  });
  await t.step("a body without Content-Length (chunked) answers 400", async () => {
    const headers = postHeaders(server.token);
    const body = ReadableStream.from([bytesOf('{"base_info":{"channel_version":"2.2.0"}}')]);
    const answer = await reply(
      await fetch(`${server.url}/ilink/bot/getconfig`, { method: "POST", headers, body }),
    );
    assert.equal(answer.status, 400);
    assert.match(answer.text, /Content-Length/);
  });
  const recorded = server.requestsTo("getconfig");
  assert.equal(recorded.length, cases.length + 3);
  assert.equal(recorded[1]?.headers.get("authorizationtype"), null);
  assert.equal(recorded[1]?.status, 400);
  const good = await post(server, "getconfig", { ilink_user_id: "u" });
  assert.equal(good.status, 200);
  const last = server.requests.at(-1)!;
  assert.equal(last.headers.get("ilink-app-clientversion"), "131584");
  assert.deepEqual(last.body, { ilink_user_id: "u", base_info: { channel_version: "2.2.0" } });
  assert.equal(new TextDecoder().decode(last.raw), JSON.stringify(last.body));
});

Deno.test("a wrong or missing token answers ret -14 session expired", async () => {
  await using server = await IlinkServer.start({ token: "secret-tok" });
  const wrong = await post(server, "getconfig", { ilink_user_id: "u" }, { token: "other" });
  assert.deepEqual(wrong.json, { ret: -14, errmsg: "session expired" });
  const missing = await post(server, "getconfig", { ilink_user_id: "u" }, {
    headers: { Authorization: null },
  });
  assert.deepEqual(missing.json, { ret: -14, errmsg: "session expired" });
  const right = await post(server, "getconfig", { ilink_user_id: "u" });
  assert.equal(right.json.ret, 0);
});

Deno.test("malformed JSON answers 400, an unknown path 404, a wrong method 405", async () => {
  await using server = await IlinkServer.start();
  const bad = await post(server, "sendmessage", {}, { raw: '{"msg": ' });
  assert.equal(bad.status, 400);
  assert.match(bad.text, /Malformed JSON/);
  assert.ok(server.requestsTo("sendmessage")[0]?.body instanceof Uint8Array);
  assert.equal((await post(server, "nosuch", {})).status, 404);
  assert.equal((await get(server.url, "/elsewhere")).status, 404);
  const wrongMethod = await get(server.url, "/ilink/bot/sendmessage");
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("allow"), "POST");
  assert.equal((await post(server, "get_bot_qrcode", {})).status, 405);
});

Deno.test("sendmessage validates the 3.7 payload and records what it accepts", async (t) => {
  await using server = await IlinkServer.start();
  const { contextToken } = server.inbound({ text: "hi" });
  const invalid: [string, Record<string, unknown>, RegExp][] = [
    ["no to_user_id", { to_user_id: "" }, /msg\.to_user_id/],
    ["no client_id", { client_id: undefined }, /^Missing field msg\.client_id/],
    ["message_type 1", { message_type: 1 }, /msg\.message_type/],
    ["message_state 0", { message_state: 0 }, /msg\.message_state/],
    ["an empty item_list", { item_list: [] }, /msg\.item_list/],
    ["blank text", { item_list: [{ type: 1, text_item: { text: "  " } }] }, /text_item\.text/],
    ["an unknown item type", { item_list: [{ type: 9 }] }, /item_list\[0\]\.type/],
  ];
  for (const [name, change, message] of invalid) {
    await t.step(`${name} answers 400`, async () => {
      const payload = textMsg("u-1@im.wechat", "x");
      const answer = await post(server, "sendmessage", { msg: { ...payload.msg, ...change } });
      assert.equal(answer.status, 400);
      assert.match(answer.text, message);
    });
  }
  assert.equal((await post(server, "sendmessage", {})).status, 400, "no msg at all");
  assert.equal(server.sent.length, 0);

  const payload = textMsg("u-1@im.wechat", "hello there", { context_token: contextToken });
  const answer = await post(server, "sendmessage", payload);
  assert.deepEqual(answer.json, { ret: 0 });
  assert.equal(server.sent.length, 1);
  const [sent] = server.sent;
  assert.equal(sent?.text, "hello there");
  assert.equal(sent?.contextToken, contextToken);
  assert.equal(sent?.clientId, payload.msg.client_id);
  assert.deepEqual(sent?.msg, payload.msg);
});

Deno.test("sendmessage is idempotent by client_id: a repeat answers ret 0 and is recorded once", async () => {
  await using server = await IlinkServer.start();
  const payload = textMsg("u-1@im.wechat", "once");
  assert.equal((await post(server, "sendmessage", payload)).json.ret, 0);
  assert.equal((await post(server, "sendmessage", payload)).json.ret, 0);
  assert.equal(server.sent.length, 1);
  assert.equal(server.requestsTo("sendmessage").length, 2);
});

Deno.test("sendmessage answers -14 for a stale context_token and accepts one without a token", async () => {
  await using server = await IlinkServer.start();
  const { contextToken: old } = server.inbound({ text: "hi" });
  const fresh = server.rotateContextToken("u-1@im.wechat");
  assert.equal(fresh, "ctx-u-1@im.wechat-2");
  assert.equal(server.contextToken("u-1@im.wechat"), fresh);
  const stale = await post(
    server,
    "sendmessage",
    textMsg("u-1@im.wechat", "a", { context_token: old }),
  );
  assert.equal(stale.json.ret, -14);
  const unknownPeer = await post(
    server,
    "sendmessage",
    textMsg("u-9@im.wechat", "a", { context_token: fresh }),
  );
  assert.equal(unknownPeer.json.ret, -14, "another peer's token is not this peer's");
  const tokenless = await post(server, "sendmessage", textMsg("u-1@im.wechat", "b"));
  assert.equal(tokenless.json.ret, 0);
  const current = await post(
    server,
    "sendmessage",
    textMsg("u-1@im.wechat", "c", { context_token: fresh }),
  );
  assert.equal(current.json.ret, 0);
  assert.deepEqual(server.sent.map((s) => [s.text, s.contextToken]), [["b", undefined], [
    "c",
    fresh,
  ]]);
  const room = server.inbound({ from: "u-2@im.wechat", roomId: "r@chatroom", text: "x" });
  const toRoom = await post(
    server,
    "sendmessage",
    textMsg("r@chatroom", "d", { context_token: room.contextToken }),
  );
  assert.equal(toRoom.json.ret, 0, "a room takes the token of its latest message");
});

Deno.test("failNext answers the next calls with each kind of fault, then normally again", async (t) => {
  await using server = await IlinkServer.start();
  const send = () => post(server, "sendmessage", textMsg("u-1@im.wechat", "x"));
  await t.step("API errors, count times", async () => {
    server.failNext("sendmessage", Faults.rateLimit, 2);
    server.failNext("sendmessage", { ret: -2, errcode: -2, errmsg: "unknown error" });
    assert.deepEqual((await send()).json, { ret: -2, errmsg: "rate limit" });
    assert.deepEqual((await send()).json, { ret: -2, errmsg: "rate limit" });
    assert.deepEqual((await send()).json, { ret: -2, errcode: -2, errmsg: "unknown error" });
    assert.deepEqual((await send()).json, { ret: 0 });
    assert.equal(server.sent.length, 1, "only the accepted call is sent");
  });
  await t.step("an HTTP status", async () => {
    server.failNext("getupdates", { http: 500 });
    server.failNext("getupdates", { http: 502, body: "bad gateway" });
    const first = await post(server, "getupdates", {});
    assert.equal(first.status, 500);
    assert.equal(first.text, "simulated HTTP 500");
    const second = await post(server, "getupdates", {});
    assert.deepEqual([second.status, second.text], [502, "bad gateway"]);
    assert.equal(server.requestsTo("getupdates")[1]?.status, 502);
  });
  await t.step("a delay before the normal answer", async () => {
    server.failNext("getconfig", { delayMs: 250 });
    const started = performance.now();
    const answer = await post(server, "getconfig", { ilink_user_id: "u" });
    assert.ok(performance.now() - started >= 240);
    assert.equal(answer.json.ret, 0);
  });
  await t.step("a dropped connection rejects the fetch", async () => {
    server.failNext("sendmessage", { drop: true });
    await assert.rejects(send());
    const record = server.requestsTo("sendmessage").at(-1);
    assert.equal(record?.status, undefined);
    assert.equal((await send()).json.ret, 0);
  });
});

Deno.test("failAlways makes a storm until cleared with null", async () => {
  await using server = await IlinkServer.start();
  const storm: Fault = { ret: -14 };
  server.failAlways("sendmessage", storm);
  for (let i = 0; i < 5; i++) {
    assert.deepEqual((await post(server, "sendmessage", textMsg("u-1@im.wechat", "x"))).json, {
      ret: -14,
    });
  }
  server.failAlways("sendmessage", null);
  assert.equal((await post(server, "sendmessage", textMsg("u-1@im.wechat", "x"))).json.ret, 0);
  assert.equal(server.sent.length, 1);
});

Deno.test("getconfig issues typing tickets that sendtyping accepts until they expire", async () => {
  await using server = await IlinkServer.start();
  const config = await post(server, "getconfig", { ilink_user_id: "u-1@im.wechat" });
  assert.equal(config.json.ret, 0);
  assert.match(config.json.typing_ticket, /^tt-\d+$/);
  const ticket = config.json.typing_ticket;
  for (const status of [1, 2]) {
    const answer = await post(server, "sendtyping", {
      ilink_user_id: "u-1@im.wechat",
      typing_ticket: ticket,
      status,
    });
    assert.deepEqual(answer.json, { ret: 0 });
  }
  const badStatus = await post(server, "sendtyping", {
    ilink_user_id: "u-1@im.wechat",
    typing_ticket: ticket,
    status: 3,
  });
  assert.equal(badStatus.status, 400);
  assert.match(badStatus.text, /status/);
  const unknown = await post(server, "sendtyping", {
    ilink_user_id: "u-1@im.wechat",
    typing_ticket: "tt-x",
    status: 1,
  });
  assert.equal(unknown.json.ret, -14);
  server.expireTypingTickets();
  const expired = await post(server, "sendtyping", {
    ilink_user_id: "u-1@im.wechat",
    typing_ticket: ticket,
    status: 1,
  });
  assert.equal(expired.json.ret, -14);
  assert.equal((await post(server, "getconfig", {})).status, 400, "no ilink_user_id");
});

Deno.test("getuploadurl validates each field of 3.6", async (t) => {
  await using server = await IlinkServer.start();
  const good = {
    filekey: "0123456789abcdef0123456789abcdef",
    media_type: 1,
    to_user_id: "u-1@im.wechat",
    rawsize: 20,
    rawfilemd5: "0123456789abcdef0123456789abcdef",
    filesize: 32,
    no_need_thumb: true,
    aeskey: "00112233445566778899aabbccddeeff",
  };
  const ok = await post(server, "getuploadurl", good);
  assert.equal(ok.json.ret, 0);
  assert.equal(typeof ok.json.upload_param, "string");
  assert.equal(ok.json.upload_full_url, undefined);
  const invalid: [string, Record<string, unknown>][] = [
    ["filekey", { filekey: "short" }],
    ["media_type", { media_type: 5 }],
    ["to_user_id", { to_user_id: "" }],
    ["rawsize", { rawsize: -1 }],
    ["rawfilemd5", { rawfilemd5: "xyz" }],
    ["filesize", { filesize: 20 }],
    ["filesize", { rawsize: 32, filesize: 32 }],
    ["aeskey", { aeskey: btoa("0123456789abcdef") }],
  ];
  for (const [field, change] of invalid) {
    await t.step(`a bad ${field} (${JSON.stringify(change)}) answers 400`, async () => {
      const answer = await post(server, "getuploadurl", { ...good, ...change });
      assert.equal(answer.status, 400);
      assert.match(answer.text, new RegExp(`field ${field}\\b`));
    });
  }
  assert.equal(
    (await post(server, "getuploadurl", { ...good, rawsize: 32, filesize: 48 })).status,
    200,
  );
});

Deno.test("a CDN upload is decrypted, checked and answered with x-encrypted-param for the item", async () => {
  await using server = await IlinkServer.start();
  const plain = bytesOf("a picture, or near enough");
  const { key, filekey, param, cdn } = await upload(server, plain, { mediaType: 1 });
  assert.equal(cdn.status, 200);
  const encrypted = cdn.headers.get("x-encrypted-param");
  assert.ok(encrypted);
  assert.notEqual(encrypted, param);
  const [file] = server.uploaded();
  assert.deepEqual(file?.bytes, plain);
  assert.equal(file?.filekey, filekey);
  assert.equal(file?.mediaType, 1);
  assert.equal(file?.toUserId, "u-1@im.wechat");
  assert.equal(file?.rawsize, plain.length);
  assert.equal(file?.rawfilemd5, md5(plain));
  assert.equal(file?.method, "POST");
  assert.equal(file?.encryptQueryParam, encrypted);
  assert.ok(server.requestsTo("upload")[0]?.body instanceof Uint8Array);

  const download = await fetch(
    `${server.cdnUrl}/download?encrypted_query_param=${encodeURIComponent(encrypted)}`,
  );
  assert.deepEqual(decrypt(key, new Uint8Array(await download.arrayBuffer())), plain);

  const item = (eqp: string, aesKey = btoa(hex(key))) => ({
    type: 2,
    image_item: { media: { encrypt_query_param: eqp, aes_key: aesKey, encrypt_type: 1 } },
  });
  const message = (eqp: string, aesKey?: string) => {
    const payload = textMsg("u-1@im.wechat", "x");
    return { msg: { ...payload.msg, item_list: [item(eqp, aesKey)] } };
  };
  assert.deepEqual((await post(server, "sendmessage", message(encrypted))).json, { ret: 0 });
  const withUploadParam = await post(server, "sendmessage", message(param));
  assert.equal(withUploadParam.status, 400);
  assert.match(withUploadParam.text, /encrypt_query_param/);
  const wrongKey = await post(server, "sendmessage", message(encrypted, btoa("f".repeat(32))));
  assert.equal(wrongKey.status, 400);
  assert.match(wrongKey.text, /aes_key/);
  const rawKey = await post(
    server,
    "sendmessage",
    message(encrypted, btoa(String.fromCharCode(...key))),
  );
  assert.equal(rawKey.json.ret, 0, "base64 of the raw key is accepted (it renders grey on phones)");
});

Deno.test("the CDN refuses PUT, a wrong key, a size or MD5 mismatch and unknown params", async (t) => {
  await using server = await IlinkServer.start();
  const plain = bytesOf("0123456789abcdef0123");
  await t.step("PUT answers 405", async () => {
    const { cdn } = await upload(server, plain, { method: "PUT" });
    assert.equal(cdn.status, 405);
  });
  await t.step("another key answers 400", async () => {
    const other = crypto.getRandomValues(new Uint8Array(16));
    const { cdn } = await upload(server, plain, { body: encrypt(other, plain) });
    assert.equal(cdn.status, 400);
  });
  await t.step("a different file answers 400 naming the mismatch", async () => {
    const { key } = { key: crypto.getRandomValues(new Uint8Array(16)) };
    const shorter = await upload(server, plain, { key, body: encrypt(key, plain.subarray(1)) });
    assert.equal(shorter.cdn.status, 400);
    assert.match(shorter.cdn.text, /Size mismatch/);
    const changed = plain.slice();
    changed[0] = 0x7a;
    const other = await upload(server, plain, { key, body: encrypt(key, changed) });
    assert.equal(other.cdn.status, 400);
    assert.match(other.cdn.text, /MD5 mismatch/);
  });
  await t.step("unknown or unencoded params", async () => {
    const { param, filekey, key } = await upload(server, plain, { method: "PUT" });
    const raw = await fetch(
      `${server.cdnUrl}/upload?encrypted_query_param=${param}&filekey=${filekey}`,
      {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream" },
        body: encrypt(key, plain),
      },
    );
    assert.equal(raw.status, 400, "a param with + / = must be URL-encoded");
    await raw.body?.cancel();
    const download = await fetch(`${server.cdnUrl}/download?encrypted_query_param=nope`);
    assert.equal(download.status, 404);
    await download.body?.cancel();
  });
  assert.equal(server.uploaded().length, 0);
});

Deno.test("a {http: 200} fault on upload answers 200 without x-encrypted-param", async () => {
  await using server = await IlinkServer.start();
  server.failNext("upload", { http: 200, body: "" });
  const { cdn } = await upload(server, bytesOf("x"));
  assert.equal(cdn.status, 200);
  assert.equal(cdn.headers.get("x-encrypted-param"), null);
});

Deno.test("offerUploadFullUrl makes getuploadurl answer an upload_full_url that works", async () => {
  await using server = await IlinkServer.start();
  server.offerUploadFullUrl();
  const plain = bytesOf("via the full url");
  const key = crypto.getRandomValues(new Uint8Array(16));
  const answer = await post(server, "getuploadurl", {
    filekey: hex(crypto.getRandomValues(new Uint8Array(16))),
    media_type: 3,
    to_user_id: "u-1@im.wechat",
    rawsize: plain.length,
    rawfilemd5: md5(plain),
    filesize: Math.floor((plain.length + 16) / 16) * 16,
    aeskey: hex(key),
  });
  assert.ok(answer.json.upload_full_url.startsWith(`${server.cdnUrl}/upload?`));
  const cdn = await reply(
    await fetch(answer.json.upload_full_url, {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: encrypt(key, plain),
    }),
  );
  assert.equal(cdn.status, 200);
  assert.deepEqual(server.uploaded()[0]?.bytes, plain);
});

Deno.test("media() serves ciphertext that decrypts with the hex or the raw key", async (t) => {
  await using server = await IlinkServer.start();
  const plain = bytesOf("x".repeat(40));
  for (const keyEncoding of ["hex", "raw"] as const) {
    await t.step(keyEncoding, async () => {
      const served = server.media(plain, { keyEncoding });
      const aesKeyBytes = atob(served.media.aes_key).length;
      assert.equal(aesKeyBytes, keyEncoding === "hex" ? 32 : 16);
      assert.equal(served.media.encrypt_type, 1);
      assert.equal(served.media.full_url, undefined);
      assert.equal(served.hexKey, hex(served.key));
      assert.equal(served.cipherSize, 48);
      const response = await fetch(
        `${server.cdnUrl}/download?encrypted_query_param=${
          encodeURIComponent(served.media.encrypt_query_param)
        }`,
      );
      assert.equal(response.status, 200);
      const body = new Uint8Array(await response.arrayBuffer());
      assert.equal(body.length, 48);
      assert.deepEqual(decrypt(keyOf(served.media.aes_key), body), plain);
    });
  }
  const record = server.requestsTo("download")[0];
  assert.equal(record?.method, "GET");
  assert.equal(record?.path, "/c2c/download");
});

Deno.test("media() viaFullUrl gives only a full_url, on this server or on fullUrlHost", async () => {
  await using server = await IlinkServer.start();
  const plain = bytesOf("full");
  const served = server.media(plain, { viaFullUrl: true });
  assert.equal(served.media.encrypt_query_param, "");
  assert.ok(served.media.full_url?.startsWith(`${server.cdnUrl}/download?encrypted_query_param=`));
  const response = await fetch(served.media.full_url!);
  assert.deepEqual(decrypt(served.key, new Uint8Array(await response.arrayBuffer())), plain);
  const ssrf = server.media(plain, { viaFullUrl: true, fullUrlHost: "169.254.169.254" });
  assert.equal(new URL(ssrf.media.full_url!).host, "169.254.169.254");
});

Deno.test("imageItem and fileItem build the items of 3.6 around a served media", async () => {
  await using server = await IlinkServer.start();
  const served = server.media(bytesOf("abc"));
  assert.deepEqual(imageItem(served), {
    type: 2,
    image_item: { media: served.media, mid_size: 16 },
  });
  assert.deepEqual(imageItem(served, { aeskey: served.hexKey }).image_item.aeskey, served.hexKey);
  assert.deepEqual(fileItem(served, "a.pdf"), {
    type: 4,
    file_item: { media: served.media, file_name: "a.pdf", len: "3" },
  });
  const message = server.inbound({ items: [imageItem(served)] });
  const msgs = (await post(server, "getupdates", {})).json.msgs;
  assert.equal(msgs[0].message_id, message.messageId);
  assert.deepEqual(msgs[0].item_list[0].image_item.media, served.media);
});

Deno.test("QR login: a new qrcode per call and the script's statuses in order, the last repeating", async () => {
  await using server = await IlinkServer.start();
  const first = await get(server.url, "/ilink/bot/get_bot_qrcode?bot_type=3");
  const second = await get(server.url, "/ilink/bot/get_bot_qrcode?bot_type=3");
  assert.match(first.json.qrcode, /^qr-\d+$/);
  assert.notEqual(first.json.qrcode, second.json.qrcode);
  assert.ok(new URL(first.json.qrcode_img_content).href);
  server.qrScript([
    { status: "wait" },
    { status: "scaned" },
    { status: "confirmed", botId: "b-9@im.bot", botToken: "tok-9", userId: "owner@im.wechat" },
  ]);
  const poll = () => get(server.url, `/ilink/bot/get_qrcode_status?qrcode=${second.json.qrcode}`);
  assert.deepEqual((await poll()).json, { status: "wait" });
  assert.deepEqual((await poll()).json, { status: "scaned" });
  const confirmed = {
    status: "confirmed",
    bot_token: "tok-9",
    ilink_bot_id: "b-9@im.bot",
    baseurl: server.url,
    ilink_user_id: "owner@im.wechat",
  };
  assert.deepEqual((await poll()).json, confirmed);
  assert.deepEqual((await poll()).json, confirmed);
  const withNewToken = await post(server, "getconfig", { ilink_user_id: "u" }, { token: "tok-9" });
  assert.equal(withNewToken.json.ret, 0, "the confirmed bot_token is accepted");
  assert.equal(server.requestsTo("get_qrcode_status").length, 4);
});

Deno.test("QR login: an expired qrcode stays expired; a new one goes on with the script", async () => {
  await using server = await IlinkServer.start();
  server.qrScript([{ status: "wait" }, { status: "expired" }, { status: "scaned" }]);
  const qr = async () =>
    (await get(server.url, "/ilink/bot/get_bot_qrcode?bot_type=3")).json.qrcode;
  const status = async (q: string) =>
    (await get(server.url, `/ilink/bot/get_qrcode_status?qrcode=${q}`)).json.status;
  const old = await qr();
  assert.equal(await status(old), "wait");
  assert.equal(await status(old), "expired");
  assert.equal(await status(old), "expired");
  const fresh = await qr();
  assert.equal(await status(fresh), "scaned");
  assert.equal(await status(old), "expired");
  assert.equal(await status("qr-unknown"), "expired");
});

Deno.test("QR login: scaned_but_redirect names the redirect listener, which records its requests", async () => {
  await using server = await IlinkServer.start();
  server.qrScript([
    { status: "scaned_but_redirect", redirectHost: server.redirectHost },
    { status: "confirmed" },
  ]);
  const { qrcode } = (await get(server.url, "/ilink/bot/get_bot_qrcode?bot_type=3")).json;
  const redirect = await get(server.url, `/ilink/bot/get_qrcode_status?qrcode=${qrcode}`);
  assert.deepEqual(redirect.json, {
    status: "scaned_but_redirect",
    redirect_host: server.redirectHost,
  });
  assert.equal(server.redirectUrl, `http://${redirect.json.redirect_host}`);
  const confirmed = await get(
    `http://${redirect.json.redirect_host}`,
    `/ilink/bot/get_qrcode_status?qrcode=${qrcode}`,
  );
  assert.equal(confirmed.json.status, "confirmed");
  assert.equal(confirmed.json.bot_token, server.token);
  assert.equal(confirmed.json.ilink_bot_id, server.accountId);
  const [before, after] = server.requestsTo("get_qrcode_status");
  assert.equal(before?.via, undefined);
  assert.equal(after?.via, "redirect");
  const viaRedirect = await post(server, "getconfig", { ilink_user_id: "u" }, {
    base: server.redirectUrl,
  });
  assert.equal(viaRedirect.json.ret, 0, "the redirect host is the same server");
});

Deno.test("QR GETs need the two iLink-App headers; a script step can be a fault", async () => {
  await using server = await IlinkServer.start();
  const bare = await get(server.url, "/ilink/bot/get_bot_qrcode?bot_type=3", {});
  assert.equal(bare.status, 400);
  assert.match(bare.text, /^Missing header iLink-App-Id/);
  const noType = await get(server.url, "/ilink/bot/get_bot_qrcode");
  assert.equal(noType.status, 400);
  const { qrcode } = (await get(server.url, "/ilink/bot/get_bot_qrcode?bot_type=3")).json;
  server.qrScript([{ fault: { http: 503 } }, { fault: { delayMs: 150 } }, { status: "scaned" }]);
  const poll = () => get(server.url, `/ilink/bot/get_qrcode_status?qrcode=${qrcode}`);
  assert.equal((await poll()).status, 503);
  const started = performance.now();
  assert.deepEqual((await poll()).json, { status: "scaned" });
  assert.ok(performance.now() - started >= 140);
  server.failNext("get_qrcode_status", { drop: true });
  await assert.rejects(poll());
  assert.deepEqual((await poll()).json, { status: "scaned" });
});

Deno.test("close() ends a held poll without an answer and frees the port", async () => {
  const server = await IlinkServer.start({ longPollMs: 30_000 });
  const poll = post(server, "getupdates", {});
  await server.waitForRequests("getupdates", 1);
  await server.close();
  await assert.rejects(poll);
  await assert.rejects(fetch(`${server.url}/ilink/bot/getupdates`));
  await server.close();
});

Deno.test("waitForSent resolves when a message is accepted and times out with a count", async () => {
  await using server = await IlinkServer.start();
  const waiting = server.waitForSent(1);
  await post(server, "sendmessage", textMsg("u-1@im.wechat", "late"));
  assert.equal((await waiting)[0]?.text, "late");
  await assert.rejects(server.waitForSent(2, 50), /1 so far/);
});
