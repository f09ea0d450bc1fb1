import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { BOT, repliesOf, startWecomGateway, waitForReply } from "./_wecom.ts";
import { waitFor } from "../gateway/_gateway.ts";
import { cachedFiles, PNG } from "./_media.ts";

Deno.test("an encrypted image and file are fetched through the guard, decrypted and kept with the message", async () => {
  await using setup = await startWecomGateway({
    env: { WECOM_MEDIA_ALLOW_ADDRESSES: "127.0.0.1" },
  });
  const { wecom, home } = setup;
  const image = wecom.media(PNG, { encrypt: true, unpaddedKey: true, contentType: "image/png" });
  const report = new TextEncoder().encode("%PDF-1.7 quarterly numbers");
  const file = wecom.media(report, { encrypt: true, filename: "q3.pdf" });
  wecom.callback(BOT, {
    chatType: "dm",
    userId: "zhangsan",
    msgtype: "mixed",
    body: {
      mixed: {
        msg_item: [
          { msgtype: "text", text: { content: "what is in this picture?" } },
          { msgtype: "image", image: { url: image.url, aeskey: image.aeskey } },
        ],
      },
    },
  });
  await waitForReply(wecom, "what is in this picture?");
  wecom.callback(BOT, {
    chatType: "dm",
    userId: "zhangsan",
    msgtype: "file",
    body: { file: { url: file.url, aeskey: file.aeskey } },
    text: "",
  });
  const digest = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
  let names: string[] = [];
  await waitFor("both files in the media cache", async () => {
    names = [...(await cachedFiles(home)).keys()];
    return names.length >= 2;
  });
  assert.ok(names.some((n) => n.startsWith(digest(PNG))), `the PNG is kept decrypted: ${names}`);
  assert.ok(names.some((n) => n.startsWith(digest(report))), `the PDF is kept decrypted: ${names}`);
  assert.deepEqual(wecom.mediaRequests.length, 2);
});

Deno.test("a media URL on a private address is refused unless allowed, and the text still gets its answer", async () => {
  await using setup = await startWecomGateway();
  const { wecom, home } = setup;
  const image = wecom.media(PNG, { encrypt: true });
  wecom.callback(BOT, {
    chatType: "dm",
    userId: "zhangsan",
    msgtype: "mixed",
    body: {
      mixed: {
        msg_item: [
          { msgtype: "text", text: { content: "look" } },
          { msgtype: "image", image: { url: image.url, aeskey: image.aeskey } },
        ],
      },
    },
  });
  await waitForReply(wecom, "look");
  assert.equal(wecom.mediaRequests.length, 0, "no request reached the private address");
  assert.match(
    setup.gateway.stderr(),
    /left out a file of a WeCom message.*loopback|loopback.*left out/s,
  );
  const files = await cachedFiles(home).catch(() => new Map());
  assert.equal(files.size, 0);
});

Deno.test("a reply's MEDIA: line is uploaded in chunks and sent on the req_id, then its text", async () => {
  await using setup = await startWecomGateway({
    config: "agent:\n  media_dirs: [HOME/out]\n",
  });
  const { wecom, home } = setup;
  await Deno.mkdir(`${home}/out`);
  const big = new Uint8Array(700 * 1024).map((_, i) => (i * 31) % 251);
  big.set(PNG, 0);
  await Deno.writeFile(`${home}/out/chart.png`, big);
  const { reqId } = wecom.callback(BOT, {
    chatType: "group",
    chatId: "wrkG1",
    userId: "lisi",
    text: `@Bot here\nMEDIA:${home}/out/chart.png`,
  });
  const text = await waitForReply(wecom, "here");
  const replies = repliesOf(wecom);
  const media = replies.find((r) => r.frame?.body?.msgtype === "image");
  assert.ok(media, `an image reply: ${replies.map((r) => r.raw.slice(0, 80))}`);
  assert.equal(media.frame?.headers?.req_id, reqId);
  const mediaId = (media.frame?.body?.image as { media_id: string }).media_id;
  const uploaded = wecom.uploaded(mediaId);
  assert.deepEqual(uploaded?.bytes, big, "the file arrived whole");
  assert.equal(wecom.framesOf("aibot_upload_media_chunk").length, 2, "700 KiB go in two chunks");
  assert.ok(replies.indexOf(media) < replies.indexOf(text), "the file first, then the text");
});
