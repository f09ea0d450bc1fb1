import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { imageItem } from "../fakes/ilink_server.ts";
import { startWeixinGateway, waitForSent } from "./_weixin.ts";
import { cachedFiles, PNG } from "./_media.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

Deno.test("a user's image is fetched from the CDN, decrypted with AES-128-ECB and kept with the message", async () => {
  await using setup = await startWeixinGateway();
  const { ilink, home } = setup;
  const served = ilink.media(PNG); // aes_key = base64 of the hex key
  const raw = ilink.media(PNG.slice(0, 24), { keyEncoding: "raw" }); // base64 of the raw 16 bytes
  ilink.inbound({
    from: "erin@im.wechat",
    items: [
      { type: 1, text_item: { text: "what is in these pictures?" } },
      imageItem(served),
      imageItem(raw, { aeskey: raw.hexKey }),
    ],
  });
  await waitForSent(ilink, "what is in these pictures?");
  const files = await cachedFiles(home);
  const names = [...files.keys()];
  assert.ok(names.some((n) => n.startsWith(sha256(PNG))), `the image is kept decrypted: ${names}`);
  assert.ok(names.some((n) => n.startsWith(sha256(PNG.slice(0, 24)))), `and the second: ${names}`);
  assert.equal(ilink.requestsTo("download").length, 2);
});

Deno.test("a reply's MEDIA: line is uploaded to the CDN (POST, aes_key = base64 of the hex key) and arrives as the same bytes", async () => {
  await using setup = await startWeixinGateway({ config: "agent:\n  media_dirs: [HOME/out]\n" });
  const { ilink, home } = setup;
  await Deno.mkdir(`${home}/out`);
  const picture = new Uint8Array(70 * 1024).map((_, i) => (i * 31) % 251);
  picture.set(PNG, 0);
  await Deno.writeFile(`${home}/out/chart.png`, picture);
  ilink.inbound({ from: "frank@im.wechat", text: `here it is\nMEDIA:${home}/out/chart.png` });
  await waitForSent(ilink, "here it is");
  const [upload] = ilink.uploaded();
  assert.ok(upload, "a file reached the CDN");
  assert.equal(upload.method, "POST");
  assert.equal(upload.mediaType, 1, "as an image");
  assert.deepEqual(upload.bytes, picture, "the CDN decrypts it to the same bytes");
  const imageMessage = ilink.sent.find((s) =>
    (s.msg.item_list as { type: number }[]).some((item) => item.type === 2)
  );
  assert.ok(imageMessage, "an image message was sent");
  const item = (imageMessage.msg.item_list as { image_item: { media: { aes_key: string } } }[])[0]!;
  assert.match(atob(item.image_item.media.aes_key), /^[0-9a-f]{32}$/, "base64 of the hex key");
  assert.ok(
    ilink.sent.indexOf(imageMessage) < ilink.sent.findIndex((s) => s.text === "here it is"),
  );
});

Deno.test("a media URL off the allowlisted hosts is refused and logged; the text is still answered", async () => {
  await using setup = await startWeixinGateway();
  const { ilink, home } = setup;
  const metadata = ilink.media(PNG, { viaFullUrl: true, fullUrlHost: "169.254.169.254" });
  ilink.inbound({
    from: "grace@im.wechat",
    items: [{ type: 1, text_item: { text: "look at this" } }, imageItem(metadata)],
  });
  await waitForSent(ilink, "look at this");
  assert.match(
    setup.gateway.stderr(),
    /left out a file of a Weixin message.*the host 169\.254\.169\.254 is not on this platform's list/s,
  );
  assert.equal((await cachedFiles(home)).size, 0);
  ilink.inbound({ from: "grace@im.wechat", text: "still there?" });
  await waitForSent(ilink, "still there?");
});
