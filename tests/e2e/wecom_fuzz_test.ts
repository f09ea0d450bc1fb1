import assert from "node:assert/strict";
import { BOT, startWecomGateway, waitForReply, wecomHealth } from "./_wecom.ts";

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

const MB = "x".repeat(1024 * 1024);

/** 10,000 frames that are not, or not quite, WeCom frames. */
function* badFrames(rand: () => number): Generator<string> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const junk = () =>
    pick<unknown>([null, 7, -1, "", "str", [], {}, [1, "a"], true, { a: { b: [] } }]);
  for (let i = 0; i < 10_000; i++) {
    const kind = i % 12;
    if (kind === 0) {
      yield Array.from(
        { length: 1 + Math.floor(rand() * 64) },
        () => String.fromCharCode(Math.floor(rand() * 0xffff)),
      ).join("");
    } else if (kind === 1) {
      yield pick(["{", "[", "null", "42", '"text"', "{]", "\u0000", "{'a':1}"]);
    } else if (kind === 2) yield JSON.stringify(junk());
    else if (kind === 3) yield JSON.stringify({ cmd: junk(), headers: junk(), body: junk() });
    else if (kind === 4) {
      yield JSON.stringify({
        cmd: "aibot_msg_callback",
        headers: { req_id: junk() },
        body: junk(),
      });
    } else if (kind === 5) {
      yield JSON.stringify({
        cmd: pick(["aibot_msg_callback", "aibot_callback"]),
        headers: { req_id: `fz-${i}` },
        body: {
          msgid: junk(),
          chattype: junk(),
          chatid: junk(),
          from: junk(),
          msgtype: pick(["text", "mixed", "voice", "image", "file", "appmsg", 5, null]),
          text: junk(),
          mixed: { msg_item: junk() },
          image: junk(),
          quote: junk(),
        },
      });
    } else if (kind === 6) {
      yield JSON.stringify({
        headers: { req_id: `unknown-${i}` },
        errcode: junk(),
        errmsg: junk(),
      });
    } else if (kind === 7) {
      yield JSON.stringify({
        cmd: "aibot_event_callback",
        headers: { req_id: `ev-${i}` },
        body: { event: pick([junk(), { eventtype: junk() }, { eventtype: "enter_chat" }]) },
      });
    } else if (kind === 8) yield JSON.stringify({ cmd: "ping", headers: junk(), errcode: "0" });
    else if (kind === 9 && i % 1200 === 9) {
      // A few 1 MB strings, in places that must not be trusted.
      yield pick([
        MB,
        JSON.stringify({ cmd: MB, headers: { req_id: MB } }),
        JSON.stringify({
          cmd: "aibot_msg_callback",
          headers: { req_id: "big" },
          body: { msgid: MB },
        }),
      ]);
    } else if (kind === 10) {
      yield JSON.stringify({
        cmd: "aibot_msg_callback",
        headers: { req_id: `deep-${i}` },
        body: { from: { userid: ["u"] }, msgtype: "text", text: { content: { nested: true } } },
      });
    } else yield JSON.stringify({ cmd: "aibot_upload_media_init", body: { upload_id: junk() } });
  }
}

Deno.test("10,000 malformed or random frames never crash the gateway, and a valid message after them is answered", async () => {
  await using setup = await startWecomGateway();
  const { wecom } = setup;
  let sent = 0;
  for (const frame of badFrames(random(13))) {
    wecom.sendRaw(BOT, frame);
    if (++sent % 500 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  wecom.sendRaw(BOT, new Uint8Array([0xff, 0xfe, 0x00, 0x01]), "binary");
  assert.equal(sent, 10_000);
  wecom.callback(BOT, { chatType: "dm", userId: "zhangsan", text: "still there?" });
  await waitForReply(wecom, "still there?", 30_000);
  assert.equal(wecom.subscribes(BOT), 1, "the link was never dropped");
  const health = await wecomHealth(setup);
  assert.equal(health.state, "receiving");
  const counts = (health.details as { link_counts: { malformed_frames: number } }).link_counts;
  assert.ok(
    counts.malformed_frames > 1000,
    `unparseable frames are counted: ${counts.malformed_frames}`,
  );
  const warnings = setup.gateway.stderr().split("\n").filter((l) =>
    l.includes("not a WeCom frame")
  );
  assert.ok(warnings.length <= 10, `the log is not flooded: ${warnings.length} lines`);
});
