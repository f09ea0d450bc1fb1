/**
 * Weixin media on the iLink CDN: files travel encrypted with AES-128-ECB
 * (PKCS#7) under a per-file 16-byte key. Downloads come from
 * `<cdn>/download?encrypted_query_param=…` (or a `full_url` on Tencent's
 * hosts only); uploads ask `getuploadurl` for a slot, POST the ciphertext to
 * the CDN and send the item with `aes_key` = base64 of the key's 32 hex
 * characters (base64 of the raw key shows grey boxes in the client).
 *
 * @module
 */

import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import type { Attachment } from "../event.ts";
import { ILINK_TIMEOUTS, type IlinkClient, IlinkError } from "./api.ts";

/** Hosts a media `full_url` may name (and their subdomains). */
export const WEIXIN_MEDIA_HOSTS: readonly string[] = [
  "novac2c.cdn.weixin.qq.com",
  "ilinkai.weixin.qq.com",
  "wx.qlogo.cn",
  "thirdwx.qlogo.cn",
  "res.wx.qq.com",
  "mmbiz.qpic.cn",
  "mmbiz.qlogo.cn",
];

/** The `media` object of an item. */
export interface CdnMedia {
  /** What the CDN finds the file by (`<cdn>/download?encrypted_query_param=…`). */
  readonly encrypt_query_param?: string;
  /** The file's key, as {@linkcode mediaKey} reads it. */
  readonly aes_key?: string;
  /** How the file is encrypted (hermes sends 1). */
  readonly encrypt_type?: number;
  /** The file's own address, used when there is no query parameter. */
  readonly full_url?: string;
}

/**
 * The 16-byte key an `aes_key` (or an image's hex `aeskey`) stands for:
 * base64 of the raw 16 bytes, or base64 of their 32 hex characters, or the
 * hex itself. Throws for anything else.
 *
 * @example
 * ```ts
 * mediaKey(btoa("00112233445566778899aabbccddeeff")).length; // 16
 * ```
 */
export function mediaKey(value: string): Uint8Array {
  const text = value.trim();
  if (/^[0-9a-fA-F]{32}$/.test(text)) return fromHex(text);
  let decoded: Uint8Array;
  try {
    decoded = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    throw new Error("The media key is neither hex nor base64");
  }
  if (decoded.length === 16) return decoded;
  const ascii = new TextDecoder().decode(decoded);
  if (decoded.length === 32 && /^[0-9a-fA-F]{32}$/.test(ascii)) return fromHex(ascii);
  throw new Error(`The media key is ${decoded.length} bytes, not 16 (or 32 hex characters)`);
}

/**
 * Decrypts CDN bytes; the PKCS#7 padding is stripped only when it is well
 * formed (some files are stored unpadded).
 *
 * @example
 * ```ts
 * const key = mediaKey("00112233445566778899aabbccddeeff");
 * const cipher = encryptEcb(new TextEncoder().encode("hello"), key);
 * new TextDecoder().decode(decryptEcb(cipher, key)); // "hello"
 * ```
 */
export function decryptEcb(bytes: Uint8Array, key: Uint8Array): Uint8Array {
  if (bytes.length === 0 || bytes.length % 16 !== 0) {
    throw new Error("The encrypted media is not a whole number of AES blocks");
  }
  const decipher = createDecipheriv("aes-128-ecb", key, null);
  decipher.setAutoPadding(false);
  const plain = new Uint8Array([...decipher.update(bytes), ...decipher.final()]);
  const pad = plain[plain.length - 1]!;
  if (pad < 1 || pad > 16 || pad > plain.length) return plain;
  for (let i = plain.length - pad; i < plain.length; i++) if (plain[i] !== pad) return plain;
  return plain.subarray(0, plain.length - pad);
}

/**
 * Encrypts bytes for the CDN (PKCS#7 padded).
 *
 * @example
 * ```ts
 * const key = mediaKey("00112233445566778899aabbccddeeff");
 * encryptEcb(new TextEncoder().encode("hello"), key).length; // 16
 * ```
 */
export function encryptEcb(bytes: Uint8Array, key: Uint8Array): Uint8Array<ArrayBuffer> {
  const cipher = createCipheriv("aes-128-ecb", key, null);
  return new Uint8Array([...cipher.update(bytes), ...cipher.final()]);
}

/**
 * Where to fetch an item's file: the CDN by its query parameter, else its
 * `full_url`; undefined when it names neither.
 *
 * @example
 * ```ts
 * downloadUrl("https://novac2c.cdn.weixin.qq.com/c2c", { encrypt_query_param: "a b" });
 * // "https://novac2c.cdn.weixin.qq.com/c2c/download?encrypted_query_param=a%20b"
 * downloadUrl("https://novac2c.cdn.weixin.qq.com/c2c", {}); // undefined
 * ```
 */
export function downloadUrl(cdnBaseUrl: string, media: CdnMedia): string | undefined {
  if (media.encrypt_query_param) {
    return `${cdnBaseUrl.replace(/\/+$/, "")}/download?encrypted_query_param=${
      encodeURIComponent(media.encrypt_query_param)
    }`;
  }
  return media.full_url || undefined;
}

/** How a file goes to Weixin: the upload's media_type and the item's type and field. */
export interface OutboundMedia {
  /** `media_type` of getuploadurl: 1 image, 2 video, 3 file, 4 voice. */
  readonly mediaType: 1 | 2 | 3 | 4;
  /** The item's `type`: 2 image, 3 voice, 4 file, 5 video. */
  readonly itemType: 2 | 3 | 4 | 5;
  /** The item field that carries the media. */
  readonly field: "image_item" | "video_item" | "file_item" | "voice_item";
}

/**
 * The kind a file is sent as: images and videos as such, `.silk` audio as
 * a voice message, everything else (other audio too) as a file.
 *
 * @example
 * ```ts
 * outboundMedia({ kind: "image", mime: "image/png", path: "/m/a.png", size: 1 }).field; // "image_item"
 * ```
 */
export function outboundMedia(file: Attachment): OutboundMedia {
  if (file.mime.startsWith("image/")) return { mediaType: 1, itemType: 2, field: "image_item" };
  if (file.mime.startsWith("video/")) return { mediaType: 2, itemType: 5, field: "video_item" };
  if (isSilk(file)) return { mediaType: 4, itemType: 3, field: "voice_item" };
  return { mediaType: 3, itemType: 4, field: "file_item" };
}

/**
 * Whether a file is SILK audio, the only voice Weixin plays.
 *
 * @example
 * ```ts
 * isSilk({ kind: "voice", mime: "audio/silk", path: "/m/v.silk", size: 1 }); // true
 * isSilk({ kind: "voice", mime: "audio/mpeg", path: "/m/v.mp3", size: 1 }); // false
 * ```
 */
export function isSilk(file: Attachment): boolean {
  return file.mime === "audio/silk" || (file.name ?? file.path).toLowerCase().endsWith(".silk");
}

/** What {@linkcode uploadMedia} needs. */
export interface UploadOptions {
  /** The account's client (`getuploadurl` goes through it). */
  readonly api: IlinkClient;
  /** The media CDN (`weixin.cdn_base_url`). */
  readonly cdnBaseUrl: string;
  /** Posts the ciphertext to the CDN. */
  readonly fetch: typeof fetch;
  /** The peer (or group) the file goes to. */
  readonly toUserId: string;
  /** Whether a host may take the upload (the same list downloads use). */
  readonly allowed: (url: string) => boolean;
}

/**
 * Uploads a file to the CDN and answers the message item that sends it.
 *
 * @example
 * ```ts
 * import { IlinkClient } from "./api.ts";
 *
 * const item = await uploadMedia(
 *   { kind: "image", mime: "image/png", path: "/srv/hermes/media/a.png", size: 2048 },
 *   {
 *     api: new IlinkClient({ baseUrl: "https://ilinkai.weixin.qq.com", token: "bot-token" }),
 *     cdnBaseUrl: "https://novac2c.cdn.weixin.qq.com/c2c",
 *     fetch,
 *     toUserId: "u@im.wechat",
 *     allowed: (url) => new URL(url).hostname === "novac2c.cdn.weixin.qq.com",
 *   },
 * );
 * // { type: 2, image_item: { media: { encrypt_query_param, aes_key, encrypt_type: 1 }, mid_size } }
 * ```
 */
export async function uploadMedia(
  file: Attachment,
  options: UploadOptions,
): Promise<Record<string, unknown>> {
  const plain = await Deno.readFile(file.path);
  const kind = outboundMedia(file);
  const key = crypto.getRandomValues(new Uint8Array(16));
  const hexKey = toHex(key);
  const filekey = toHex(crypto.getRandomValues(new Uint8Array(16)));
  const md5 = createHash("md5").update(plain).digest("hex");
  const slot = await options.api.post("getuploadurl", {
    filekey,
    media_type: kind.mediaType,
    to_user_id: options.toUserId,
    rawsize: plain.length,
    rawfilemd5: md5,
    filesize: Math.floor((plain.length + 16) / 16) * 16,
    no_need_thumb: true,
    aeskey: hexKey,
  }, ILINK_TIMEOUTS.api);
  const fullUrl = typeof slot.upload_full_url === "string" ? slot.upload_full_url : "";
  const uploadParam = typeof slot.upload_param === "string" ? slot.upload_param : "";
  if (fullUrl === "" && uploadParam === "") {
    throw new IlinkError("getuploadurl", "error", "iLink getuploadurl gave no upload_param");
  }
  const cipher = encryptEcb(plain, key);
  const target = fullUrl !== ""
    ? fullUrl
    : `${options.cdnBaseUrl.replace(/\/+$/, "")}/upload?encrypted_query_param=${
      encodeURIComponent(uploadParam)
    }&filekey=${encodeURIComponent(filekey)}`;
  if (!options.allowed(target)) {
    throw new IlinkError(
      "upload",
      "error",
      `iLink gave an upload address off its hosts: ${target}`,
    );
  }
  let response: Response;
  try {
    response = await options.fetch(target, {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: cipher,
      signal: AbortSignal.timeout(ILINK_TIMEOUTS.cdn),
    });
  } catch (error) {
    throw new IlinkError(
      "upload",
      "network",
      `iLink CDN upload failed: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const body = await response.text();
  const param = response.headers.get("x-encrypted-param");
  if (!response.ok || !param) {
    throw new IlinkError(
      "upload",
      "http",
      `iLink CDN upload HTTP ${response.status}${param ? "" : " without x-encrypted-param"}: ${
        body.slice(0, 200)
      }`,
      { status: response.ok ? 502 : response.status },
    );
  }
  const media = { encrypt_query_param: param, aes_key: btoa(hexKey), encrypt_type: 1 };
  const name = file.name ?? file.path.split("/").pop() ?? "file";
  const extra = kind.field === "image_item"
    ? { mid_size: cipher.length }
    : kind.field === "file_item"
    ? { file_name: name, len: String(plain.length) }
    : kind.field === "video_item"
    ? { video_size: cipher.length, play_length: 0, video_md5: md5 }
    : { encode_type: 6, sample_rate: 24000, bits_per_sample: 16, playtime: 0 };
  return { type: kind.itemType, [kind.field]: { media, ...extra } };
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!, (pair) => parseInt(pair, 16));
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
