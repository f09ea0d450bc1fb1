/**
 * WeCom media: inbound files are AES-256-CBC encrypted with a per-file key
 * (IV = the key's first 16 bytes, PKCS#7 padding to 32-byte blocks);
 * outbound files go up in 512 KiB chunks (at most 100) and are sent by the
 * `media_id` the upload gives, with the kind WeCom accepts for them.
 *
 * @module
 */

import { createDecipheriv, createHash } from "node:crypto";
import { PlatformError } from "../../errors.ts";
import type { Attachment } from "../event.ts";
import type { WecomFrame } from "./api.ts";

/** Bytes of one upload chunk. */
export const UPLOAD_CHUNK_BYTES = 512 * 1024;
/** Most chunks one upload may have. */
export const MAX_UPLOAD_CHUNKS = 100;
const MiB = 1024 * 1024;

/**
 * Decrypts a downloaded file: `aeskey` is the standard base64 of a 32-byte
 * key (padding may be missing); throws when the key or the padding is wrong.
 *
 * @example
 * ```ts
 * declare const downloaded: Uint8Array; // the file as fetched from the callback's URL
 *
 * const plain = decryptMedia(downloaded, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"); // Uint8Array
 * ```
 */
export function decryptMedia(bytes: Uint8Array, aeskey: string): Uint8Array {
  const padded = aeskey.trim() + "=".repeat((4 - (aeskey.trim().length % 4)) % 4);
  const key = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  if (key.length !== 32) throw new Error(`The media key is ${key.length} bytes, not 32`);
  if (bytes.length === 0 || bytes.length % 16 !== 0) {
    throw new Error("The encrypted media is not a whole number of AES blocks");
  }
  const decipher = createDecipheriv("aes-256-cbc", key, key.subarray(0, 16));
  decipher.setAutoPadding(false);
  const plain = new Uint8Array([...decipher.update(bytes), ...decipher.final()]);
  const pad = plain[plain.length - 1]!;
  if (pad < 1 || pad > 32 || pad > plain.length) throw new Error("The media's padding is wrong");
  for (let i = plain.length - pad; i < plain.length; i++) {
    if (plain[i] !== pad) throw new Error("The media's padding is wrong");
  }
  return plain.subarray(0, plain.length - pad);
}

/** The WeCom message type a file goes as, and why it was changed, if it was. */
export interface OutboundKind {
  readonly type: "image" | "video" | "voice" | "file";
  /** Shown to the user under the file when it went as another type. */
  readonly note?: string;
}

/**
 * The type a file goes as: images and videos up to 10 MiB as themselves,
 * voice only as AMR up to 2 MiB, anything else as a file; over 20 MiB it is
 * refused (a permanent `PlatformError`).
 *
 * @example
 * ```ts
 * outboundKind({ kind: "voice", mime: "audio/mpeg", size: 128 }).type; // "file"
 * ```
 */
export function outboundKind(
  file: Pick<Attachment, "kind" | "mime" | "size" | "name">,
): OutboundKind {
  if (file.size > 20 * MiB) {
    throw new PlatformError(
      `Cannot send ${
        file.name ?? "the file"
      }: ${file.size} bytes is over WeCom's 20MB limit (文件超过企微 20MB 上限)`,
      { platform: "wecom", code: "media_too_large", retryable: false },
    );
  }
  const mime = file.mime.toLowerCase();
  const wanted = mime.startsWith("image/")
    ? "image"
    : mime.startsWith("video/")
    ? "video"
    : mime.startsWith("audio/") || mime === "application/ogg"
    ? "voice"
    : "file";
  if ((wanted === "image" || wanted === "video") && file.size > 10 * MiB) {
    return {
      type: "file",
      note: `${wanted === "image" ? "图片" : "视频"}超过 10MB，已转为文件格式发送`,
    };
  }
  if (wanted === "voice" && mime !== "audio/amr") {
    return {
      type: "file",
      note: `语音格式 ${mime} 不支持，企微仅支持 AMR 格式，已转为文件格式发送`,
    };
  }
  if (wanted === "voice" && file.size > 2 * MiB) {
    return { type: "file", note: "语音超过 2MB，已转为文件格式发送" };
  }
  return { type: wanted };
}

/** Sends one upload request (init, chunk or finish) and answers its ack. */
export type UploadRequest = (cmd: string, body: Record<string, unknown>) => Promise<WecomFrame>;

/**
 * Uploads `bytes` in chunks and answers the `media_id` to send.
 *
 * @example
 * ```ts
 * import type { WecomSocket } from "./api.ts";
 * declare const socket: WecomSocket; // subscribed
 *
 * const bytes = await Deno.readFile("/srv/hermes/media/a.png");
 * const mediaId = await uploadMedia((cmd, body) => socket.request(cmd, body), bytes, {
 *   type: "image",
 *   filename: "a.png",
 * });
 * ```
 */
export async function uploadMedia(
  request: UploadRequest,
  bytes: Uint8Array,
  meta: { type: OutboundKind["type"]; filename: string },
  chunkBytes = UPLOAD_CHUNK_BYTES,
): Promise<string> {
  const chunks = Math.max(1, Math.ceil(bytes.length / chunkBytes));
  if (chunks > MAX_UPLOAD_CHUNKS) {
    throw new PlatformError(
      `Cannot upload ${meta.filename}: more than ${MAX_UPLOAD_CHUNKS} chunks`,
      {
        platform: "wecom",
        code: "media_too_large",
        retryable: false,
      },
    );
  }
  const init = await request("aibot_upload_media_init", {
    type: meta.type,
    filename: meta.filename,
    total_size: bytes.length,
    total_chunks: chunks,
    md5: createHash("md5").update(bytes).digest("hex"),
  });
  const uploadId = init.body?.upload_id;
  if (typeof uploadId !== "string" || !uploadId) {
    throw missing("aibot_upload_media_init", "upload_id");
  }
  for (let index = 0; index < chunks; index++) {
    const chunk = bytes.subarray(index * chunkBytes, (index + 1) * chunkBytes);
    await request("aibot_upload_media_chunk", {
      upload_id: uploadId,
      chunk_index: index,
      base64_data: toBase64(chunk),
    });
  }
  const finish = await request("aibot_upload_media_finish", { upload_id: uploadId });
  const mediaId = finish.body?.media_id;
  if (typeof mediaId !== "string" || !mediaId) {
    throw missing("aibot_upload_media_finish", "media_id");
  }
  return mediaId;
}

/**
 * Decodes inline media (`base64`, optionally a data URL).
 *
 * @example
 * ```ts
 * fromBase64("data:image/png;base64,iVBORw0KGgo="); // the PNG's bytes
 * ```
 */
export function fromBase64(value: string): Uint8Array {
  const data = value.replace(/^data:[^,]*,/, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function missing(cmd: string, field: string): PlatformError {
  return new PlatformError(`WeCom answered ${cmd} without ${field}`, {
    platform: "wecom",
    code: "bad_answer",
    retryable: true,
  });
}
