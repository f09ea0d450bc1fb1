/**
 * What a file is, from its first bytes (never from what the sender claims):
 * the MIME type and the attachment kind it makes.
 *
 * @module
 */

import type { Attachment } from "../platforms/event.ts";

const SIGNATURES: readonly { mime: string; at?: number; bytes: readonly number[] }[] = [
  { mime: "image/png", bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { mime: "image/jpeg", bytes: [0xff, 0xd8, 0xff] },
  { mime: "image/gif", bytes: [0x47, 0x49, 0x46, 0x38] },
  { mime: "image/webp", at: 8, bytes: [0x57, 0x45, 0x42, 0x50] }, // RIFF....WEBP
  { mime: "application/pdf", bytes: [0x25, 0x50, 0x44, 0x46, 0x2d] },
  { mime: "audio/ogg", bytes: [0x4f, 0x67, 0x67, 0x53] },
  { mime: "audio/wav", at: 8, bytes: [0x57, 0x41, 0x56, 0x45] }, // RIFF....WAVE
  { mime: "audio/mpeg", bytes: [0x49, 0x44, 0x33] }, // ID3
  { mime: "audio/silk", bytes: [0x23, 0x21, 0x53, 0x49, 0x4c, 0x4b, 0x5f, 0x56, 0x33] }, // #!SILK_V3
  { mime: "audio/silk", at: 1, bytes: [0x23, 0x21, 0x53, 0x49, 0x4c, 0x4b, 0x5f, 0x56, 0x33] }, // WeChat's: 0x02 first
  { mime: "video/mp4", at: 4, bytes: [0x66, 0x74, 0x79, 0x70] }, // ....ftyp
  { mime: "application/zip", bytes: [0x50, 0x4b, 0x03, 0x04] },
];

/**
 * The MIME type of `bytes` by their signature; `application/octet-stream`
 * when none matches (and `text/plain` for valid UTF-8 without NULs).
 *
 * @example
 * ```ts
 * sniffMime(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])); // "image/png"
 * ```
 */
export function sniffMime(bytes: Uint8Array): string {
  for (const signature of SIGNATURES) {
    const at = signature.at ?? 0;
    if (signature.bytes.every((b, i) => bytes[at + i] === b)) return signature.mime;
  }
  const head = bytes.subarray(0, 4096);
  if (head.length > 0 && !head.includes(0)) {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(head);
      return "text/plain";
    } catch {
      // not text
    }
  }
  return "application/octet-stream";
}

/**
 * The attachment kind of a MIME type.
 *
 * @example
 * ```ts
 * kindOf("image/png"); // "image"
 * kindOf("application/pdf"); // "file"
 * ```
 */
export function kindOf(mime: string): Attachment["kind"] {
  if (mime.startsWith("image/")) return "image";
  if (mime.startsWith("audio/")) return "voice";
  if (mime.startsWith("video/")) return "video";
  return "file";
}

/** A file name extension for `mime` (for the cache's file names). */
export function extensionOf(mime: string): string {
  return {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "audio/ogg": "ogg",
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "video/mp4": "mp4",
    "application/zip": "zip",
    "text/plain": "txt",
  }[mime] ?? "bin";
}
