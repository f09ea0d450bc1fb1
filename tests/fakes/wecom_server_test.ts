import assert from "node:assert/strict";
import { createDecipheriv, createHash } from "node:crypto";
import { type WecomFrame, WecomServer } from "./wecom_server.ts";
import { clientHandshake, encodeFrame, FrameParser, Opcode, writeAll } from "./_wecom_ws.ts";

/** A WeCom client on Deno's global WebSocket, as a test drives it. */
class Client implements AsyncDisposable {
  readonly ws: WebSocket;
  /** Every message received: parsed JSON objects, or the raw data. */
  readonly received: { raw: string | ArrayBuffer; frame?: WecomFrame }[] = [];
  readonly closed: Promise<CloseEvent>;
  /** Messages of error events (Deno fires one before an abnormal close). */
  readonly errors: string[] = [];
  readonly #waiters = new Set<() => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    this.closed = new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
    ws.addEventListener("error", (event) => this.errors.push((event as ErrorEvent).message));
    ws.addEventListener("message", (event) => {
      let frame: WecomFrame | undefined;
      if (typeof event.data === "string") {
        try {
          frame = JSON.parse(event.data);
        } catch {
          // raw fuzz data
        }
      }
      this.received.push({ raw: event.data, frame });
      for (const waiter of [...this.#waiters]) waiter();
    });
  }

  static async open(url: string): Promise<Client> {
    const client = new Client(new WebSocket(url));
    await new Promise<void>((resolve, reject) => {
      client.ws.addEventListener("open", () => resolve(), { once: true });
      client.ws.addEventListener("error", () => reject(new Error("WebSocket failed")), {
        once: true,
      });
    });
    return client;
  }

  get frames(): WecomFrame[] {
    return this.received.flatMap((r) => r.frame ? [r.frame] : []);
  }

  send(frame: WecomFrame): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Sends a request and waits for the ack with its req_id. */
  request(cmd: string, body: Record<string, unknown>, reqId = `${cmd}-${rand()}`) {
    const since = this.frames.length;
    this.send({ cmd, headers: { req_id: reqId }, body });
    return this.next((f) => f.headers?.req_id === reqId && f.cmd === undefined, 2000, since);
  }

  subscribe(deviceId = "dev-a", secret = "secret-1", botId = "bot-1") {
    return this.request("aibot_subscribe", { bot_id: botId, secret, device_id: deviceId });
  }

  /** The first frame matching from index `since` of {@linkcode frames}, waiting up to `timeoutMs`. */
  next(
    predicate: (frame: WecomFrame) => boolean,
    timeoutMs = 2000,
    since = 0,
  ): Promise<WecomFrame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.frames.slice(since).find(predicate);
        if (!hit) return;
        done();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Timed out waiting for a frame: ${predicate}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  async close(): Promise<CloseEvent> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close();
    return await this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The link ended without a close frame. Browsers report code 1006; Deno's
 * WebSocket fires an error event ("Unexpected EOF") and a close event
 * without a code (0).
 */
function assertAbnormal(client: Client, event: CloseEvent): void {
  assert.equal(event.wasClean, false);
  assert.ok([0, 1006].includes(event.code), `close code ${event.code}`);
  assert.ok(client.errors.length > 0, "an error event came first");
}

/** Polls `condition` every 5 ms for up to 2 s. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await delay(5);
  assert.ok(condition(), `condition never held: ${condition}`);
}

function rand(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** A raw TCP client after the opening handshake, reading frames by hand. */
async function rawClient(server: WecomServer) {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const parser = new FrameParser();
  parser.push(await clientHandshake(tcp, `127.0.0.1:${server.port}`));
  return {
    tcp,
    write: (opcode: number, text: string, fin = true, mask = true) =>
      writeAll(tcp, encodeFrame(opcode, new TextEncoder().encode(text), { fin, mask })),
    /** Reads frames until EOF. */
    async readToEnd() {
      const frames = [];
      const buf = new Uint8Array(65536);
      for (;;) {
        for (let f = parser.next(); f; f = parser.next()) frames.push(f);
        const n = await tcp.read(buf).catch(() => null);
        if (n === null) break;
        parser.push(buf.subarray(0, n));
      }
      tcp.close();
      return frames;
    },
  };
}

Deno.test("Deno's WebSocket connects, and frames of 7-, 16- and 64-bit lengths arrive intact", async () => {
  await using server = await WecomServer.start();
  await using client = await Client.open(server.url);
  await client.subscribe();
  const sizes = [5, 125, 126, 300, 65535, 70_000, 1024 * 1024];
  const payloads = sizes.map((n, i) => String(i).repeat(n));
  for (const payload of payloads) server.sendRaw("bot-1", payload);
  server.sendRaw("bot-1", "in three fragments", "text", 3);
  server.sendRaw("bot-1", new Uint8Array([0, 1, 2, 255]), "binary");
  await client.next(() => client.received.length >= 1 + payloads.length + 2);
  const raws = client.received.slice(1).map((r) => r.raw);
  assert.deepEqual(raws.slice(0, payloads.length), payloads);
  assert.equal(raws[payloads.length], "in three fragments");
  assert.deepEqual(
    new Uint8Array(raws[payloads.length + 1] as ArrayBuffer),
    new Uint8Array([0, 1, 2, 255]),
  );

  const big = JSON.stringify({
    cmd: "fuzz",
    headers: { req_id: "big" },
    body: { s: "x".repeat(1024 * 1024) },
  });
  client.ws.send(big);
  const record = await server.waitForFrame((r) => r.frame?.headers?.req_id === "big");
  assert.equal(record.raw, big);
  assert.equal((await client.next((f) => f.headers?.req_id === "big")).errcode, 40004);
});

Deno.test("aibot_subscribe is acked; a wrong secret gets 40013 and the connection stays open", async () => {
  await using server = await WecomServer.start({ bots: { "bot-1": "secret-1", "bot-2": "s2" } });
  await using client = await Client.open(server.url);
  const wrong = await client.subscribe("dev-a", "nope");
  assert.equal(wrong.errcode, 40013);
  assert.equal(wrong.errmsg, "invalid secret");
  assert.equal((await client.subscribe("dev-a", "s2", "bot-9")).errcode, 40013);
  const noDevice = await client.request("aibot_subscribe", { bot_id: "bot-1", secret: "secret-1" });
  assert.deepEqual([noDevice.errcode, noDevice.errmsg], [40058, "invalid device_id"]);
  assert.equal(client.ws.readyState, WebSocket.OPEN);
  assert.equal(server.subscribes("bot-1"), 0);

  const ok = await client.subscribe("dev-a");
  assert.deepEqual([ok.errcode, ok.errmsg], [0, "ok"]);
  assert.deepEqual(await server.waitForSubscribe("bot-1", 1), { conn: 1, deviceId: "dev-a" });
  assert.deepEqual(server.sessions("bot-1"), [
    { conn: 1, deviceId: "dev-a", state: "open", subscribed: true, queued: 0 },
  ]);
  assert.equal(server.framesOf("aibot_subscribe").length, 4);
});

Deno.test("pings are acked with their req_id until setPingAcks(false)", async () => {
  await using server = await WecomServer.start();
  await using client = await Client.open(server.url);
  const before = await client.request("ping", {}, "ping-1");
  assert.deepEqual(before, { headers: { req_id: "ping-1" }, errcode: 0, errmsg: "ok" });
  server.setPingAcks(false);
  client.send({ cmd: "ping", headers: { req_id: "ping-2" }, body: {} });
  await server.waitForFrame((r) => r.frame?.headers?.req_id === "ping-2");
  await assert.rejects(client.next((f) => f.headers?.req_id === "ping-2", 200));
  server.setPingAcks(true);
  assert.equal((await client.request("ping", {}, "ping-3")).errcode, 0);

  // the server pings only when asked: a JSON ping, or a WebSocket ping the client pongs
  const jsonPing = server.sendPing(1);
  assert.equal((await client.next((f) => f.cmd === "ping")).headers?.req_id, jsonPing);
  const wsPing = server.sendPing(1, "ws");
  await until(() => server.controlFrames.some((c) => c.kind === "pong"));
  const pong = server.controlFrames.find((c) => c.kind === "pong")!;
  assert.equal(new TextDecoder().decode(pong.payload), wsPing);
});

Deno.test("aibot_respond_msg follows the reply rules", async (t) => {
  let now = 1_700_000_000_000;
  await using server = await WecomServer.start({ now: () => now });
  await using client = await Client.open(server.url);
  await client.subscribe();
  const respond = (reqId: string, body: Record<string, unknown>) =>
    client.request("aibot_respond_msg", body, reqId);
  const markdown = (content: string) => ({ msgtype: "markdown", markdown: { content } });

  await t.step("a reply on a callback's req_id is acked, more than once", async () => {
    const cb = server.callback("bot-1", {
      chatType: "group",
      chatId: "g1",
      userId: "zs",
      text: "@Bot hi",
    });
    assert.deepEqual([cb.routedTo, cb.queued], [1, false]);
    const inbound = await client.next((f) => f.cmd === "aibot_msg_callback");
    assert.deepEqual(inbound, {
      cmd: "aibot_msg_callback",
      headers: { req_id: cb.reqId },
      body: {
        msgid: cb.msgid,
        aibotid: "bot-1",
        chatid: "g1",
        chattype: "group",
        from: { userid: "zs" },
        msgtype: "text",
        text: { content: "@Bot hi" },
      },
    });
    assert.equal((await respond(cb.reqId, markdown("part 1"))).errcode, 0);
    assert.equal((await respond(cb.reqId, markdown("part 2"))).errcode, 0);
    assert.equal(server.framesOf("aibot_respond_msg").length, 2);
  });

  await t.step("an unknown req_id gets 40008", async () => {
    const ack = await respond("never-issued", markdown("x"));
    assert.deepEqual([ack.errcode, ack.errmsg], [40008, "invalid req_id"]);
  });

  await t.step("stream in a group gets 600039, in a DM it is acked", async () => {
    const group = server.callback("bot-1", { chatType: "group", userId: "zs", text: "q" });
    const stream = { msgtype: "stream", stream: { id: "s1", finish: true, content: "a" } };
    assert.equal((await respond(group.reqId, stream)).errcode, 600039);
    const dm = server.callback("bot-1", { chatType: "dm", userId: "zs", text: "q" });
    assert.equal((await respond(dm.reqId, stream)).errcode, 0);
  });

  await t.step("markdown over 20480 bytes gets 40003; a foreign media_id 40007", async () => {
    const dm = server.callback("bot-1", { chatType: "dm", userId: "zs", text: "q" });
    assert.equal((await respond(dm.reqId, markdown("é".repeat(10241)))).errcode, 40003);
    assert.equal((await respond(dm.reqId, markdown("é".repeat(10240)))).errcode, 0);
    const image = { msgtype: "image", image: { media_id: "not-ours" } };
    assert.equal((await respond(dm.reqId, image)).errcode, 40007);
  });

  await t.step("a req_id past the reply window gets 846604", async () => {
    const dm = server.callback("bot-1", { chatType: "dm", userId: "zs", text: "q" });
    now += 24 * 3600_000 + 1;
    assert.equal((await respond(dm.reqId, markdown("late"))).errcode, 846604);
  });
});

Deno.test("aibot_send_msg into a known group gets 600039, to a user it is acked", async () => {
  await using server = await WecomServer.start({ groups: ["g-listed"] });
  await using client = await Client.open(server.url);
  const send = (chatid: string) =>
    client.request("aibot_send_msg", { chatid, msgtype: "markdown", markdown: { content: "hi" } });
  assert.equal((await send("zs")).errcode, 846609, "not subscribed yet");
  await client.subscribe();
  server.callback("bot-1", { chatType: "group", chatId: "g-seen", userId: "zs", text: "x" });
  for (const chatid of ["g-listed", "g-seen"]) {
    const ack = await send(chatid);
    assert.deepEqual([ack.errcode, ack.errmsg], [600039, "aibot not allowed to send msg to group"]);
  }
  assert.equal((await send("zs")).errcode, 0);
  assert.equal((await client.request("aibot_frobnicate", {})).errcode, 40004);
});

Deno.test("dropSubscription answers sends with 846609 and queues callbacks until a resubscribe", async () => {
  await using server = await WecomServer.start();
  await using client = await Client.open(server.url);
  await client.subscribe();
  const cb = server.callback("bot-1", { chatType: "dm", userId: "zs", text: "first" });
  await client.next((f) => f.headers?.req_id === cb.reqId);
  server.dropSubscription("bot-1");
  const refused = await client.request("aibot_respond_msg", {
    msgtype: "markdown",
    markdown: { content: "answer" },
  }, cb.reqId);
  assert.deepEqual([refused.errcode, refused.errmsg], [846609, "aibot websocket not subscribed"]);
  assert.equal((await client.request("ping", {})).errcode, 0, "pings still acked");
  const held = server.callback("bot-1", { chatType: "dm", userId: "zs", text: "second" });
  assert.deepEqual([held.routedTo, held.queued], [1, true]);
  assert.equal(server.sessions("bot-1")[0]?.queued, 1);

  assert.equal((await client.subscribe()).errcode, 0);
  await client.next((f) => f.headers?.req_id === held.reqId);
  const retried = await client.request("aibot_respond_msg", {
    msgtype: "markdown",
    markdown: { content: "answer" },
  }, cb.reqId);
  assert.equal(retried.errcode, 0);
});

Deno.test("the zombie rule", async (t) => {
  await t.step(
    "a new device_id leaves the half-open session registered, and group messages go to it",
    async () => {
      await using server = await WecomServer.start();
      const old = await Client.open(server.url);
      await old.subscribe("dev-old");
      server.drop("bot-1", "half-open");
      old.send({ cmd: "ping", headers: { req_id: "unanswered" }, body: {} });
      const lost = await server.waitForFrame((r) => r.frame?.headers?.req_id === "unanswered");
      assert.equal(lost.lost, true);

      const fresh = await Client.open(server.url);
      assert.equal((await fresh.subscribe("dev-new")).errcode, 0);
      assert.deepEqual(server.sessions("bot-1").map((s) => [s.conn, s.deviceId, s.state]), [
        [1, "dev-old", "half-open"],
        [2, "dev-new", "open"],
      ]);
      const group = server.callback("bot-1", {
        chatType: "group",
        userId: "zs",
        text: "@Bot lost",
      });
      assert.deepEqual([group.routedTo, group.queued], [1, true]);
      const dm = server.callback("bot-1", { chatType: "dm", userId: "zs", text: "fine" });
      assert.deepEqual([dm.routedTo, dm.queued], [2, false]);
      await fresh.next((f) => f.headers?.req_id === dm.reqId);
      await delay(50);
      assert.equal(fresh.frames.some((f) => f.headers?.req_id === group.reqId), false);
      assert.equal(old.frames.length, 1, "the zombie's socket got only its subscribe ack");
      assert.equal(fresh.frames.some((f) => f.cmd === "aibot_event_callback"), false);

      await fresh.close();
      await server.close();
      assertAbnormal(old, await old.closed);
    },
  );

  await t.step(
    "the same device_id takes the session over and gets its queued callback",
    async () => {
      await using server = await WecomServer.start();
      const old = await Client.open(server.url);
      await old.subscribe("dev-stable");
      server.drop("bot-1", "half-open");
      const group = server.callback("bot-1", {
        chatType: "group",
        userId: "zs",
        text: "@Bot kept",
      });
      assert.deepEqual([group.routedTo, group.queued], [1, true]);

      await using fresh = await Client.open(server.url);
      await fresh.subscribe("dev-stable");
      const flushed = await fresh.next((f) => f.headers?.req_id === group.reqId);
      assert.equal((flushed.body?.text as { content: string }).content, "@Bot kept");
      const ackIndex = fresh.frames.findIndex((f) => f.cmd === undefined);
      assert.equal(fresh.frames[ackIndex + 1]?.headers?.req_id, group.reqId, "right after the ack");
      assert.deepEqual(server.sessions("bot-1"), [
        { conn: 2, deviceId: "dev-stable", state: "open", subscribed: true, queued: 0 },
      ]);
      await server.close();
      await old.closed;
    },
  );

  await t.step(
    "a zombie whose socket has since closed stays registered and still eats group messages",
    async () => {
      await using server = await WecomServer.start();
      const raw = await rawClient(server);
      const subscribe = { bot_id: "bot-1", secret: "secret-1", device_id: "dev-old" };
      await raw.write(
        Opcode.text,
        JSON.stringify({ cmd: "aibot_subscribe", headers: { req_id: "s" }, body: subscribe }),
      );
      await server.waitForSubscribe("bot-1", 1);
      server.drop("bot-1", "half-open");
      raw.tcp.close();
      await until(() => server.sessions("bot-1")[0]?.state === "closed");
      assert.equal(server.connections(), 0);
      await using fresh = await Client.open(server.url);
      await fresh.subscribe("dev-new");
      const group = server.callback("bot-1", {
        chatType: "group",
        userId: "zs",
        text: "@Bot gone",
      });
      assert.deepEqual([group.routedTo, group.queued], [1, true]);
      assert.deepEqual(server.sessions("bot-1").map((s) => [s.deviceId, s.state, s.queued]), [
        ["dev-old", "closed", 1],
        ["dev-new", "open", 0],
      ]);
    },
  );

  await t.step("an open session with the same device_id is closed and replaced", async () => {
    await using server = await WecomServer.start();
    await using old = await Client.open(server.url);
    await old.subscribe("dev-a");
    await using fresh = await Client.open(server.url);
    await fresh.subscribe("dev-a");
    assert.equal((await old.closed).code, 1000);
    assert.equal(old.frames.some((f) => f.cmd === "aibot_event_callback"), false);
    assert.deepEqual(server.sessions("bot-1").map((s) => s.conn), [2]);
  });
});

Deno.test("a subscribe with another device_id sends disconnected_event to the live session", async () => {
  await using server = await WecomServer.start();
  await using client = await Client.open(server.url);
  await client.subscribe("dev-a");
  const takeover = await server.takeover("bot-1");
  assert.equal(takeover.errcode, 0);
  const event = await client.next((f) => f.cmd === "aibot_event_callback");
  assert.equal((event.body?.event as { eventtype: string }).eventtype, "disconnected_event");
  assert.equal(event.body?.aibotid, "bot-1");
  assert.equal(typeof event.body?.create_time, "number");
  assert.equal((await client.closed).code, 1000);
  assert.deepEqual(server.sessions("bot-1").map((s) => s.deviceId), [takeover.deviceId]);
  assert.equal(server.frames.filter((r) => r.internal).length, 1);

  // the DM now goes to the takeover client
  server.callback("bot-1", { chatType: "dm", userId: "zs", text: "hi" });
  await delay(50);
  assert.equal(takeover.received.length, 1);
  await takeover.close();
  assert.equal(server.sessions("bot-1").length, 0);
  const wrong = await server.takeover("bot-1", "bad");
  assert.equal(wrong.errcode, 40013);
  await wrong.close();
});

Deno.test("drop ends links with or without a close frame", async (t) => {
  await t.step("reset closes the socket without a close frame: an abnormal close", async () => {
    await using server = await WecomServer.start();
    const client = await Client.open(server.url);
    await client.subscribe();
    server.drop(1, "reset");
    assertAbnormal(client, await client.closed);
    assert.equal(server.sessions("bot-1").length, 0);
  });

  await t.step("reset sends no close frame on the wire; close does", async () => {
    await using server = await WecomServer.start();
    for (const mode of ["reset", "close"] as const) {
      const raw = await rawClient(server);
      await raw.write(Opcode.text, JSON.stringify({ cmd: "ping", headers: { req_id: mode } }));
      const { conn } = await server.waitForFrame((r) => r.frame?.headers?.req_id === mode);
      server.drop(conn, mode);
      if (mode === "close") await raw.write(Opcode.close, "\x03\xe8");
      const frames = await raw.readToEnd();
      assert.equal(frames.some((f) => f.opcode === Opcode.close), mode === "close", mode);
    }
  });

  await t.step("close sends code 1000 and the client's reply is recorded", async () => {
    await using server = await WecomServer.start();
    const client = await Client.open(server.url);
    await client.subscribe();
    server.drop("bot-1", "close");
    assert.equal((await client.closed).code, 1000);
    await delay(20);
    assert.equal(server.controlFrames.find((c) => c.kind === "close")?.code, 1000);
    assert.equal(server.connections(), 0);
  });

  await t.step("dropEvery keeps dropping the newest session", async () => {
    await using server = await WecomServer.start();
    const a = await Client.open(server.url);
    await a.subscribe();
    server.dropEvery(30, "reset");
    assertAbnormal(a, await a.closed);
    const b = await Client.open(server.url);
    await b.subscribe();
    assertAbnormal(b, await b.closed);
    server.stopDropping();
  });
});

Deno.test("failNext answers the next requests of a cmd with an errcode", async () => {
  await using server = await WecomServer.start();
  await using client = await Client.open(server.url);
  server.failNext("aibot_subscribe", 50001, 2, "busy");
  assert.deepEqual([(await client.subscribe()).errmsg, (await client.subscribe()).errcode], [
    "busy",
    50001,
  ]);
  assert.equal((await client.subscribe()).errcode, 0);
});

Deno.test("a callback for a bot without sessions waits for the next subscriber", async () => {
  await using server = await WecomServer.start();
  const early = server.callback("bot-1", {
    chatType: "group",
    chatId: "g1",
    userId: "ls",
    msgtype: "image",
    body: {
      image: { url: "http://x/y", aeskey: "k" },
      quote: { msgtype: "text", text: { content: "q" } },
    },
    cmd: "aibot_callback",
  });
  assert.deepEqual([early.routedTo, early.queued], [null, true]);
  await using client = await Client.open(server.url);
  await client.subscribe();
  const frame = await client.next((f) => f.headers?.req_id === early.reqId);
  assert.equal(frame.cmd, "aibot_callback");
  assert.deepEqual(frame.body?.image, { url: "http://x/y", aeskey: "k" });
  assert.equal(frame.body?.text, undefined);
  const event = server.event("bot-1", "enter_chat", { from: { userid: "ls" } });
  const got = await client.next((f) => f.headers?.req_id === event.reqId);
  assert.deepEqual(got.body?.event, { eventtype: "enter_chat" });
  assert.deepEqual(got.body?.from, { userid: "ls" });
});

Deno.test("a chunked upload round trip checks chunks, size and md5", async () => {
  await using server = await WecomServer.start();
  await using client = await Client.open(server.url);
  await client.subscribe();
  const bytes = crypto.getRandomValues(new Uint8Array(1300));
  const chunks = [bytes.subarray(0, 512), bytes.subarray(512, 1024), bytes.subarray(1024)];
  const init = (over: Record<string, unknown> = {}) =>
    client.request("aibot_upload_media_init", {
      type: "file",
      filename: "report.pdf",
      total_size: bytes.length,
      total_chunks: chunks.length,
      md5: md5(bytes),
      ...over,
    });
  const upload = async (md5Override?: string) => {
    const ack = await init(md5Override ? { md5: md5Override } : {});
    const uploadId = (ack.body as { upload_id: string }).upload_id;
    for (const [i, chunk] of chunks.entries()) {
      const sent = await client.request("aibot_upload_media_chunk", {
        upload_id: uploadId,
        chunk_index: i,
        base64_data: base64(chunk),
      });
      assert.equal(sent.errcode, 0);
    }
    return await client.request("aibot_upload_media_finish", { upload_id: uploadId });
  };

  const done = await upload();
  assert.equal(done.errcode, 0);
  const { media_id: mediaId, type } = done.body as { media_id: string; type: string };
  assert.equal(type, "file");
  assert.deepEqual(server.uploaded(mediaId), {
    bytes,
    type: "file",
    filename: "report.pdf",
    botId: "bot-1",
  });
  const cb = server.callback("bot-1", { chatType: "dm", userId: "zs", text: "send it" });
  const reply = await client.request("aibot_respond_msg", {
    msgtype: "file",
    file: { media_id: mediaId },
  }, cb.reqId);
  assert.equal(reply.errcode, 0);

  const bad = await upload("0".repeat(32));
  assert.equal(bad.errcode, 40009);
  assert.match(bad.errmsg ?? "", /md5 mismatch/);

  const partial = await init();
  const id = (partial.body as { upload_id: string }).upload_id;
  const missing = await client.request("aibot_upload_media_finish", { upload_id: id });
  assert.deepEqual([missing.errcode, missing.errmsg], [40009, "missing chunks: 0, 1, 2"]);
  assert.equal((await init({ total_chunks: 101 })).errcode, 40009);
  assert.equal((await init({ type: "image", total_size: 11 * 1024 * 1024 })).errcode, 40009);
});

Deno.test("media is served over HTTP, encrypted the WeCom way when asked", async () => {
  await using server = await WecomServer.start();
  const bytes = crypto.getRandomValues(new Uint8Array(1000));
  const plain = server.media(bytes, { filename: "a b.png", contentType: "image/png" });
  const response = await fetch(plain.url);
  assert.equal(response.headers.get("content-type"), "image/png");
  assert.match(response.headers.get("content-disposition") ?? "", /filename="a b.png"/);
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);

  const secret = server.media(bytes, { encrypt: true });
  assert.ok(secret.aeskey);
  const key = Uint8Array.from(atob(secret.aeskey), (c) => c.charCodeAt(0));
  assert.equal(key.length, 32);
  const cipherText = new Uint8Array(await (await fetch(secret.url)).arrayBuffer());
  assert.equal(cipherText.length % 32, 0);
  const decipher = createDecipheriv("aes-256-cbc", key, key.subarray(0, 16)).setAutoPadding(false);
  const padded = new Uint8Array([...decipher.update(cipherText), ...decipher.final()]);
  const pad = padded.at(-1)!;
  assert.ok(pad >= 1 && pad <= 32);
  assert.deepEqual(padded.subarray(padded.length - pad), new Uint8Array(pad).fill(pad));
  assert.deepEqual(padded.subarray(0, padded.length - pad), bytes);

  const oversized = server.media(bytes, { chunked: true, padTo: 300_000 });
  const big = await fetch(oversized.url);
  assert.equal(big.headers.get("content-length"), null);
  assert.equal((await big.arrayBuffer()).byteLength, 300_000);

  const claimed = await fetch(server.media(bytes, { declaredLength: 21 * 1024 * 1024 }).url);
  assert.equal(claimed.headers.get("content-length"), String(21 * 1024 * 1024));
  await claimed.body?.cancel();
  const unpadded = server.media(bytes, { encrypt: true, unpaddedKey: true });
  assert.match(unpadded.aeskey ?? "", /^[A-Za-z0-9+/]{43}$/);

  const missing = await fetch(`${server.httpUrl}/media/ffff`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  assert.equal((await fetch(server.httpUrl, { method: "POST", body: "x" })).status, 404);
  assert.equal(server.mediaRequests.length, 6);
  assert.equal(server.mediaRequests[0], new URL(plain.url).pathname);
});

Deno.test("the framing handles fragmented client messages and refuses unmasked ones", async () => {
  await using server = await WecomServer.start();
  const raw = await rawClient(server);
  const message = JSON.stringify({ cmd: "ping", headers: { req_id: "frag" }, body: {} });
  await raw.write(Opcode.text, message.slice(0, 10), false);
  await raw.write(Opcode.ping, "mid");
  await raw.write(Opcode.continuation, message.slice(10, 20), false);
  await raw.write(Opcode.continuation, message.slice(20));
  assert.equal(
    (await server.waitForFrame((r) => r.frame?.headers?.req_id === "frag")).raw,
    message,
  );
  await raw.write(Opcode.text, "unmasked", true, false);
  const frames = await raw.readToEnd();
  const text = new TextDecoder();
  assert.equal(text.decode(frames[0]!.payload), "mid", "the ping got its pong");
  assert.equal(frames[0]!.opcode, Opcode.pong);
  assert.match(text.decode(frames[1]!.payload), /"frag"/);
  const close = frames.at(-1)!;
  assert.equal(close.opcode, Opcode.close);
  assert.equal((close.payload[0]! << 8) | close.payload[1]!, 1002);
  assert.match(server.protocolErrors[0]?.message ?? "", /not masked/);
});

Deno.test("unparseable frames are recorded and ignored", async () => {
  await using server = await WecomServer.start();
  await using client = await Client.open(server.url);
  client.ws.send("{not json");
  client.ws.send("[1,2]");
  await client.request("ping", {}, "after");
  assert.deepEqual(server.frames.map((r) => [r.raw.slice(0, 9), r.frame === undefined]), [
    ["{not json", true],
    ["[1,2]", true],
    ['{"cmd":"p', false],
  ]);
  assert.equal(client.frames.length, 1);
});

Deno.test("waitForFrame rejects with a clear message on timeout", async () => {
  await using server = await WecomServer.start();
  await assert.rejects(
    server.waitForFrame((r) => r.frame?.cmd === "never", 50),
    /Timed out after 50 ms waiting for a frame matching .*never.*: 0 frames/,
  );
  await assert.rejects(server.waitForSubscribe("bot-1", 1, 20), /subscribe 1 of "bot-1": 0 so far/);
});

Deno.test("close() ends every link and leaves nothing open", async () => {
  const server = await WecomServer.start({ bots: { "bot-1": "secret-1", "bot-2": "secret-2" } });
  const a = await Client.open(server.url);
  await a.subscribe("dev-a");
  const b = await Client.open(server.url);
  await b.subscribe("dev-b", "secret-2", "bot-2");
  const c = await Client.open(server.url);
  server.drop(3, "half-open");
  const slow = server.media(new Uint8Array(10), { delayMs: 10_000 });
  const pending = fetch(slow.url).catch((e) => e);
  server.dropEvery(10_000, "close");
  const waiting = server.waitForFrame(() => false, 10_000).catch((e) => e);
  await delay(50);
  assert.equal(server.connections(), 4);
  await server.close();
  assert.equal(server.connections(), 0);
  assert.equal((await a.closed).code, 1001);
  assert.equal((await b.closed).code, 1001);
  assertAbnormal(c, await c.closed);
  assert.ok(await pending instanceof Error);
  assert.match(String(await waiting), /closed/);
  await server.close();
});
