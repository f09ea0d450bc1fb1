import assert from "node:assert/strict";
import { createCipheriv, createHash } from "node:crypto";
import { IlinkClient, IlinkError } from "../../../lib/platforms/weixin/api.ts";
import {
  decryptEcb,
  downloadUrl,
  encryptEcb,
  mediaKey,
  outboundMedia,
  uploadMedia,
} from "../../../lib/platforms/weixin/media.ts";
import type { Attachment } from "../../../lib/platforms/event.ts";
import { IlinkServer } from "../../fakes/ilink_server.ts";
import { tempDir } from "../../_helpers.ts";

const HEX = "00112233445566778899aabbccddeeff";
const KEY = Uint8Array.from(HEX.match(/../g)!, (pair) => parseInt(pair, 16));
const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");

/** `n` bytes that are not all alike. */
function bytesOf(n: number, seed = 7): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

/** AES-128-ECB without padding: what a CDN file stored unpadded looks like. */
function encryptRaw(plain: Uint8Array, key: Uint8Array): Uint8Array {
  const cipher = createCipheriv("aes-128-ecb", key, null);
  cipher.setAutoPadding(false);
  return new Uint8Array([...cipher.update(plain), ...cipher.final()]);
}

Deno.test("mediaKey() reads the three ways iLink writes a key", async (t) => {
  await t.step("base64 of the 32 hex characters", () => {
    assert.deepEqual(mediaKey(btoa(HEX)), KEY);
    assert.deepEqual(mediaKey(btoa(HEX.toUpperCase())), KEY);
  });
  await t.step("base64 of the 16 raw bytes", () => {
    assert.deepEqual(mediaKey(base64(KEY)), KEY);
  });
  await t.step("the 32 hex characters themselves (an image's aeskey)", () => {
    assert.deepEqual(mediaKey(HEX), KEY);
    assert.deepEqual(mediaKey(` ${HEX.toUpperCase()}\n`), KEY);
  });
  await t.step("anything else is an error", () => {
    for (
      const value of [
        base64(new Uint8Array(15)),
        base64(new Uint8Array(17)),
        base64(new Uint8Array(32)),
        btoa("zz".repeat(16)),
        btoa(HEX.slice(2)),
        "",
        "not base64!",
      ]
    ) {
      assert.throws(() => mediaKey(value), Error, `"${value}" is refused`);
    }
  });
  await t.step("the error says how long the key was", () => {
    assert.throws(() => mediaKey(base64(new Uint8Array(24).fill(0xff))), /24 bytes, not 16/);
  });
});

Deno.test("encryptEcb() and decryptEcb() round-trip every size from 0 to 33 bytes", () => {
  for (let n = 0; n <= 33; n++) {
    const plain = bytesOf(n);
    const cipher = encryptEcb(plain, KEY);
    assert.equal(cipher.length, Math.floor((n + 16) / 16) * 16, `ciphertext of ${n} bytes`);
    assert.deepEqual(decryptEcb(cipher, KEY), plain, `${n} bytes`);
  }
});

Deno.test("encryptEcb() and decryptEcb() round-trip 1 MiB", () => {
  const plain = crypto.getRandomValues(new Uint8Array(1 << 16));
  const big = new Uint8Array(1 << 20);
  for (let at = 0; at < big.length; at += plain.length) big.set(plain, at);
  const cipher = encryptEcb(big, KEY);
  assert.equal(cipher.length, big.length + 16);
  const back = decryptEcb(cipher, KEY);
  assert.equal(back.length, big.length);
  assert.equal(md5(back), md5(big));
});

Deno.test("encryptEcb() is AES-128-ECB with PKCS#7, as the CDN stores files", () => {
  const plain = new TextEncoder().encode("hello");
  const padded = new Uint8Array(16);
  padded.set(plain);
  padded.fill(11, 5);
  assert.deepEqual(encryptEcb(plain, KEY), encryptRaw(padded, KEY));
});

Deno.test("decryptEcb() keeps the bytes of a file whose padding is not well formed", async (t) => {
  const cases: [string, Uint8Array][] = [
    ["last byte 0", Uint8Array.from({ length: 16 }, (_, i) => (i === 15 ? 0 : 0x41))],
    ["last byte 17", Uint8Array.from({ length: 16 }, (_, i) => (i === 15 ? 17 : 0x41))],
    ["pad 3 over bytes that are not all 3", Uint8Array.from([...bytesOf(13), 3, 2, 3])],
    ["pad 16 over 16 bytes that are not all 16", Uint8Array.from([...bytesOf(15), 16])],
    ["pad larger than a whole 32-byte file's last block", Uint8Array.from([...bytesOf(31), 0xff])],
  ];
  for (const [name, plain] of cases) {
    await t.step(name, () => {
      assert.deepEqual(decryptEcb(encryptRaw(plain, KEY), KEY), plain);
    });
  }
  await t.step("well-formed padding is stripped", () => {
    const plain = Uint8Array.from([...bytesOf(14), 2, 2]);
    assert.deepEqual(decryptEcb(encryptRaw(plain, KEY), KEY), plain.subarray(0, 14));
  });
});

Deno.test("decryptEcb() refuses bytes that are not whole AES blocks", () => {
  for (const n of [0, 1, 15, 17, 31]) {
    assert.throws(
      () => decryptEcb(new Uint8Array(n), KEY),
      /whole number of AES blocks/,
      `${n} bytes`,
    );
  }
});

Deno.test("downloadUrl() names the CDN download with the parameter URL-encoded, else full_url", async (t) => {
  await t.step("encrypt_query_param with + / = is encoded", () => {
    assert.equal(
      downloadUrl("https://novac2c.cdn.weixin.qq.com/c2c/", { encrypt_query_param: "a+b/c==" }),
      "https://novac2c.cdn.weixin.qq.com/c2c/download?encrypted_query_param=a%2Bb%2Fc%3D%3D",
    );
  });
  await t.step("the decoded query gives the parameter back", () => {
    const param = "dl+QUJD/REVG==&x=1 %";
    const url = new URL(downloadUrl("http://127.0.0.1:9/c2c", { encrypt_query_param: param })!);
    assert.equal(url.pathname, "/c2c/download");
    assert.equal(url.searchParams.get("encrypted_query_param"), param);
  });
  await t.step("full_url when there is no parameter", () => {
    const full = "https://mmbiz.qpic.cn/x/y?z=1";
    assert.equal(downloadUrl("http://cdn", { full_url: full }), full);
    assert.equal(downloadUrl("http://cdn", { encrypt_query_param: "", full_url: full }), full);
  });
  await t.step("the parameter wins over full_url", () => {
    assert.equal(
      downloadUrl("http://cdn", { encrypt_query_param: "p", full_url: "https://mmbiz.qpic.cn/x" }),
      "http://cdn/download?encrypted_query_param=p",
    );
  });
  await t.step("neither: undefined", () => {
    assert.equal(downloadUrl("http://cdn", {}), undefined);
    assert.equal(downloadUrl("http://cdn", { encrypt_query_param: "", full_url: "" }), undefined);
  });
});

Deno.test("outboundMedia() sends images and videos as such, .silk as voice, other files and audio as files", () => {
  const kind = (mime: string, path: string, name?: string) => {
    const file: Attachment = { kind: "file", mime, path, size: 1, ...(name ? { name } : {}) };
    return outboundMedia(file);
  };
  assert.deepEqual(kind("image/png", "/m/a.png"), {
    mediaType: 1,
    itemType: 2,
    field: "image_item",
  });
  assert.deepEqual(kind("image/jpeg", "/m/a"), { mediaType: 1, itemType: 2, field: "image_item" });
  assert.deepEqual(kind("video/mp4", "/m/a.mp4"), {
    mediaType: 2,
    itemType: 5,
    field: "video_item",
  });
  assert.deepEqual(kind("audio/silk", "/m/a.silk"), {
    mediaType: 4,
    itemType: 3,
    field: "voice_item",
  });
  assert.deepEqual(kind("application/octet-stream", "/m/x", "Note.SILK"), {
    mediaType: 4,
    itemType: 3,
    field: "voice_item",
  });
  assert.deepEqual(kind("audio/mpeg", "/m/a.mp3"), {
    mediaType: 3,
    itemType: 4,
    field: "file_item",
  });
  assert.deepEqual(kind("audio/ogg", "/m/a.ogg"), {
    mediaType: 3,
    itemType: 4,
    field: "file_item",
  });
  assert.deepEqual(kind("application/pdf", "/m/a.pdf"), {
    mediaType: 3,
    itemType: 4,
    field: "file_item",
  });
});

/** The simulator, a client of it and a temp folder for the files to upload. */
async function uploadSetup() {
  const ilink = await IlinkServer.start({ longPollMs: 300 });
  const dir = tempDir();
  const api = new IlinkClient({ baseUrl: ilink.url, token: ilink.token });
  const options = {
    api,
    cdnBaseUrl: ilink.cdnUrl,
    fetch,
    toUserId: "u-1@im.wechat",
    allowed: () => true,
  };
  const file = async (name: string, mime: string, bytes: Uint8Array): Promise<Attachment> => {
    const path = `${dir.path}/${name}`;
    await Deno.writeFile(path, bytes);
    return { kind: "file", mime, name, path, size: bytes.length };
  };
  return {
    ilink,
    options,
    file,
    async [Symbol.asyncDispose]() {
      await ilink.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

Deno.test("uploadMedia() asks getuploadurl for a slot with the fields of 3.6", async () => {
  await using setup = await uploadSetup();
  const bytes = bytesOf(100);
  await uploadMedia(await setup.file("a.png", "image/png", bytes), setup.options);
  const [slot] = setup.ilink.requestsTo("getuploadurl");
  const body = slot?.body as Record<string, unknown>;
  assert.match(String(body.filekey), /^[0-9a-f]{32}$/);
  assert.equal(body.media_type, 1);
  assert.equal(body.to_user_id, "u-1@im.wechat");
  assert.equal(body.rawsize, 100);
  assert.equal(body.rawfilemd5, md5(bytes));
  assert.equal(body.filesize, 112);
  assert.equal(body.no_need_thumb, true);
  assert.match(String(body.aeskey), /^[0-9a-f]{32}$/);
});

Deno.test("uploadMedia() reports filesize as ((rawsize+16)//16)*16", async () => {
  await using setup = await uploadSetup();
  for (const n of [0, 1, 15, 16, 17, 32]) {
    await uploadMedia(await setup.file(`f${n}.bin`, "application/pdf", bytesOf(n)), setup.options);
  }
  const sizes = setup.ilink.requestsTo("getuploadurl").map((r) => {
    const body = r.body as Record<string, number>;
    return [body.rawsize, body.filesize];
  });
  assert.deepEqual(sizes, [[0, 16], [1, 16], [15, 16], [16, 32], [17, 32], [32, 48]]);
});

Deno.test("uploadMedia() POSTs the ciphertext, which the CDN decrypts to the file's bytes", async () => {
  await using setup = await uploadSetup();
  const bytes = crypto.getRandomValues(new Uint8Array(5000));
  const item = await uploadMedia(await setup.file("a.png", "image/png", bytes), setup.options);
  const [upload] = setup.ilink.requestsTo("upload");
  assert.equal(upload?.method, "POST");
  assert.equal(upload?.status, 200);
  assert.equal(upload?.headers.get("content-type"), "application/octet-stream");
  assert.equal(upload?.raw.length, 5008);
  const slot = setup.ilink.requestsTo("getuploadurl")[0]?.body as Record<string, string>;
  assert.equal(upload?.query.get("filekey"), slot.filekey);
  const [stored] = setup.ilink.uploaded();
  assert.deepEqual(stored?.bytes, bytes);
  assert.equal(stored?.mediaType, 1);
  assert.equal(stored?.filekey, slot.filekey);
  const media = (item.image_item as { media: Record<string, unknown> }).media;
  assert.equal(media.encrypt_query_param, stored?.encryptQueryParam);
  // the key the item names decrypts what was uploaded
  assert.deepEqual(decryptEcb(upload!.raw, mediaKey(String(media.aes_key))), bytes);
});

Deno.test("uploadMedia() answers the item of each kind with its fields", async (t) => {
  await using setup = await uploadSetup();
  const bytes = bytesOf(40);
  const cipherSize = 48;
  const mediaOf = (inner: unknown) => (inner as { media: Record<string, unknown> }).media;
  const checkMedia = (media: Record<string, unknown>, filekeyAt: number) => {
    const slot = setup.ilink.requestsTo("getuploadurl")[filekeyAt]?.body as Record<string, string>;
    assert.equal(media.encrypt_type, 1);
    // base64 of the ASCII hex key, not of the raw key (that renders grey boxes)
    assert.equal(media.aes_key, btoa(String(slot.aeskey)));
    const stored = setup.ilink.uploaded().find((u) => u.filekey === slot.filekey);
    assert.equal(media.encrypt_query_param, stored?.encryptQueryParam);
    assert.deepEqual(stored?.bytes, bytes);
  };
  await t.step("image: mid_size is the ciphertext size", async () => {
    const item = await uploadMedia(await setup.file("a.jpg", "image/jpeg", bytes), setup.options);
    assert.equal(item.type, 2);
    const inner = item.image_item as Record<string, unknown>;
    assert.equal(inner.mid_size, cipherSize);
    checkMedia(mediaOf(inner), 0);
  });
  await t.step("file: file_name and len (the plaintext size as text)", async () => {
    const item = await uploadMedia(
      await setup.file("report.pdf", "application/pdf", bytes),
      setup.options,
    );
    assert.equal(item.type, 4);
    const inner = item.file_item as Record<string, unknown>;
    assert.equal(inner.file_name, "report.pdf");
    assert.equal(inner.len, "40");
    checkMedia(mediaOf(inner), 1);
    assert.equal(
      (setup.ilink.requestsTo("getuploadurl")[1]?.body as Record<string, unknown>).media_type,
      3,
    );
  });
  await t.step("video: video_size, play_length 0 and video_md5", async () => {
    const item = await uploadMedia(await setup.file("clip.mp4", "video/mp4", bytes), setup.options);
    assert.equal(item.type, 5);
    const inner = item.video_item as Record<string, unknown>;
    assert.equal(inner.video_size, cipherSize);
    assert.equal(inner.play_length, 0);
    assert.equal(inner.video_md5, md5(bytes));
    checkMedia(mediaOf(inner), 2);
    assert.equal(
      (setup.ilink.requestsTo("getuploadurl")[2]?.body as Record<string, unknown>).media_type,
      2,
    );
  });
  await t.step("voice: encode_type 6, 24 kHz, 16 bits, playtime 0", async () => {
    const item = await uploadMedia(
      await setup.file("note.silk", "audio/silk", bytes),
      setup.options,
    );
    assert.equal(item.type, 3);
    const inner = item.voice_item as Record<string, unknown>;
    assert.equal(inner.encode_type, 6);
    assert.equal(inner.sample_rate, 24000);
    assert.equal(inner.bits_per_sample, 16);
    assert.equal(inner.playtime, 0);
    checkMedia(mediaOf(inner), 3);
    assert.equal(
      (setup.ilink.requestsTo("getuploadurl")[3]?.body as Record<string, unknown>).media_type,
      4,
    );
  });
  await t.step("every item is one the simulator delivers", async () => {
    const api = new IlinkClient({ baseUrl: setup.ilink.url, token: setup.ilink.token });
    const item = await uploadMedia(await setup.file("b.png", "image/png", bytes), setup.options);
    await api.post("sendmessage", {
      msg: {
        from_user_id: "",
        to_user_id: "u-1@im.wechat",
        client_id: "hermes-weixin-media-1",
        message_type: 2,
        message_state: 2,
        item_list: [item],
      },
    }, 5000);
    assert.equal(setup.ilink.sent.length, 1);
  });
});

Deno.test("uploadMedia() uploads nothing to a host `allowed` refuses", async () => {
  await using setup = await uploadSetup();
  const seen: string[] = [];
  const refused = await uploadMedia(await setup.file("a.png", "image/png", bytesOf(10)), {
    ...setup.options,
    allowed: (url) => {
      seen.push(url);
      return false;
    },
  }).catch((error) => error);
  assert.ok(refused instanceof IlinkError, String(refused));
  assert.equal(refused.retryable, false);
  assert.match(refused.message, /off its hosts/);
  assert.equal(seen.length, 1);
  assert.ok(seen[0]!.startsWith(`${setup.ilink.cdnUrl}/upload?`), seen[0]);
  assert.equal(setup.ilink.requestsTo("upload").length, 0);
  assert.deepEqual(setup.ilink.uploaded(), []);
});

Deno.test("uploadMedia() POSTs to upload_full_url when getuploadurl offers one", async () => {
  await using setup = await uploadSetup();
  setup.ilink.offerUploadFullUrl();
  // A CDN base nothing listens on: only the offered URL can take the upload.
  const bytes = bytesOf(33);
  const item = await uploadMedia(await setup.file("a.png", "image/png", bytes), {
    ...setup.options,
    cdnBaseUrl: "http://127.0.0.1:9/c2c",
  });
  assert.equal(setup.ilink.requestsTo("upload").length, 1);
  assert.deepEqual(setup.ilink.uploaded()[0]?.bytes, bytes);
  assert.equal(item.type, 2);
});

Deno.test("uploadMedia() fails when the CDN answers without x-encrypted-param", async () => {
  await using setup = await uploadSetup();
  setup.ilink.failNext("upload", { http: 200 });
  const failed = await uploadMedia(
    await setup.file("a.png", "image/png", bytesOf(5)),
    setup.options,
  )
    .catch((error) => error);
  assert.ok(failed instanceof IlinkError);
  assert.equal(failed.kind, "http");
  assert.match(failed.message, /without x-encrypted-param/);
});
