import assert from "node:assert/strict";
import {
  parseFrame,
  WecomLinkError,
  WecomRequestError,
  WecomSocket,
} from "../../../lib/platforms/wecom/api.ts";

Deno.test("frames: fields of the wrong type are dropped, text that is not an object is no frame", () => {
  assert.deepEqual(parseFrame('{"headers":{"req_id":"X"},"errcode":"846609","errmsg":5}'), {
    cmd: undefined,
    headers: { req_id: "X" },
    errcode: 846609,
    errmsg: undefined,
    body: undefined,
  });
  assert.equal(parseFrame("[1,2]"), undefined);
  assert.equal(parseFrame("{"), undefined);
  assert.deepEqual(parseFrame('{"cmd":7,"headers":[],"body":"x"}')?.headers, {});
});

/** A server that answers the first request on a req_id late and refuses the second. */
function slowThenRefusing() {
  let n = 0;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (message) => {
      const reqId = JSON.parse(message.data).headers.req_id;
      const answer = ++n === 1
        ? { headers: { req_id: reqId }, errcode: 0, errmsg: "ok" }
        : { headers: { req_id: reqId }, errcode: 846604, errmsg: "reply window expired" };
      setTimeout(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(answer));
      }, n === 1 ? 200 : 50);
    };
    return response;
  });
  return server;
}

Deno.test("an ack that comes after its request gave up is never taken for the next reply on that req_id", async () => {
  await using server = slowThenRefusing();
  let closed = "";
  const socket = await WecomSocket.open(`ws://127.0.0.1:${server.addr.port}`, {
    onFrame: () => {},
    onClose: (reason) => closed = reason,
  });
  const body = { msgtype: "markdown", markdown: { content: "x" } };
  await assert.rejects(
    socket.request("aibot_respond_msg", body, { reqId: "R1", timeoutMs: 50 }),
    (error) => error instanceof WecomLinkError && error.platformCode === "timeout",
  );
  const next = await socket.request("aibot_respond_msg", body, { reqId: "R1", timeoutMs: 1000 })
    .then(() => "sent", (error) => error);
  assert.notEqual(next, "sent", "the late ack of the first reply did not count for the second");
  assert.ok(
    next instanceof WecomLinkError && next.retryable,
    "the second is retried on a new link",
  );
  assert.match(closed, /no answer to aibot_respond_msg on R1 in time/);
  assert.equal(socket.open, false);
});

Deno.test("an errcode answer rejects with the errcode and what the table says to do", async () => {
  await using server = slowThenRefusing();
  const socket = await WecomSocket.open(`ws://127.0.0.1:${server.addr.port}`, {
    onFrame: () => {},
  });
  await socket.request("ping", {}, { prefix: "ping" });
  const refused = await socket.request("aibot_respond_msg", {}, { reqId: "R2" }).catch((e) => e);
  assert.ok(refused instanceof WecomRequestError);
  assert.equal(refused.errcode, 846604);
  assert.equal(refused.action, "reply_window_expired");
  assert.equal(refused.retryable, false);
  socket.close();
});
