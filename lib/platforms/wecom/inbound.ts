/**
 * What a WeCom message callback says: who wrote, where, the text, the quoted
 * text and the media it refers to. A pure reading of the callback body;
 * anything of the wrong type is treated as absent, never trusted.
 *
 * @module
 */

import { isObject } from "./api.ts";

/** A file a callback refers to (downloaded by the adapter). */
export interface MediaRef {
  readonly kind: "image" | "file";
  readonly url?: string;
  /** Base64 of the bytes (a data-URL prefix allowed). */
  readonly base64?: string;
  /** Base64 of the AES-256-CBC key the bytes are encrypted with. */
  readonly aeskey?: string;
  readonly name?: string;
}

/** One inbound message, read from its callback. */
export interface InboundMessage {
  readonly messageId: string;
  readonly reqId: string;
  readonly chatType: "dm" | "group";
  readonly chatId: string;
  readonly userId: string;
  readonly text: string;
  /** The quoted message's text. */
  readonly replyToText?: string;
  readonly media: readonly MediaRef[];
  readonly msgtype: string;
}

/**
 * Reads a callback body; undefined when it names no sender or chat, or
 * carries nothing to answer (no text, no quote, no media).
 *
 * @example
 * ```ts
 * readCallback({ msgid: "M1", chatid: "g1", chattype: "group", from: { userid: "zs" },
 *   msgtype: "text", text: { content: "@Bot hi" } }, "R1")?.text; // "hi"
 * ```
 */
export function readCallback(
  body: Record<string, unknown>,
  reqId: string,
): InboundMessage | undefined {
  const from = isObject(body.from) ? body.from : {};
  const userId = str(from.userid);
  const group = str(body.chattype).toLowerCase() === "group";
  // A DM's chat is its sender; a group message without its group cannot be answered there.
  const chatId = group ? str(body.chatid) : str(body.chatid) || userId;
  if (!userId || !chatId) return undefined;
  const msgtype = str(body.msgtype);
  let text = textOf(body, msgtype);
  if (group) text = text.replace(/^@\S+\s*/, "");
  const quote = isObject(body.quote) ? body.quote : undefined;
  let replyToText = quote ? textOf(quote, str(quote.msgtype)) || undefined : undefined;
  const media = [...mediaOf(body, msgtype), ...(quote ? quotedMedia(quote) : [])];
  if (!text && replyToText && media.length === 0) {
    text = replyToText;
    replyToText = undefined;
  }
  if (!text && media.length === 0) return undefined;
  return {
    messageId: str(body.msgid) || reqId || crypto.randomUUID().replaceAll("-", ""),
    reqId,
    chatType: group ? "group" : "dm",
    chatId,
    userId,
    text,
    replyToText,
    media,
    msgtype,
  };
}

/** The text of a message body (or of a quote) of type `msgtype`. */
function textOf(body: Record<string, unknown>, msgtype: string): string {
  if (msgtype === "mixed") {
    const mixed = isObject(body.mixed) ? body.mixed : {};
    return items(mixed.msg_item)
      .filter((item) => str(item.msgtype) === "text")
      .map((item) => content(item.text))
      .filter(Boolean)
      .join("\n");
  }
  if (msgtype === "appmsg") return appmsgText(body.appmsg);
  if (msgtype === "voice") return content(body.voice) || content(body.text);
  return content(body.text);
}

/** An app message (shared article, mini program): title, summary, link. */
function appmsgText(value: unknown): string {
  if (!isObject(value)) return "";
  const first = (...keys: string[]) => keys.map((k) => str(value[k]).trim()).find(Boolean);
  const parts = [
    first("title"),
    first("description", "desc", "digest", "summary"),
    first("url", "content_url", "page_url", "link_url"),
  ].filter((part): part is string => !!part);
  return [...new Set(parts)].join("\n");
}

function mediaOf(body: Record<string, unknown>, msgtype: string): MediaRef[] {
  const refs: MediaRef[] = [];
  if (msgtype === "mixed" && isObject(body.mixed)) {
    for (const item of items(body.mixed.msg_item)) {
      if (str(item.msgtype) === "image") push(refs, "image", item.image);
    }
  }
  push(refs, "image", body.image);
  if (msgtype === "file") push(refs, "file", body.file);
  if (isObject(body.appmsg)) {
    if (!push(refs, "file", body.appmsg.file)) push(refs, "image", body.appmsg.image);
  }
  return refs;
}

function quotedMedia(quote: Record<string, unknown>): MediaRef[] {
  const refs: MediaRef[] = [];
  push(refs, "image", quote.image);
  push(refs, "file", quote.file);
  if (isObject(quote.appmsg)) {
    if (!push(refs, "file", quote.appmsg.file)) push(refs, "image", quote.appmsg.image);
  }
  return refs;
}

/** Adds the media `value` describes, if it names a url or bytes; answers whether it did. */
function push(refs: MediaRef[], kind: MediaRef["kind"], value: unknown): boolean {
  if (!isObject(value)) return false;
  const url = str(value.url);
  const base64 = str(value.base64);
  if (!url && !base64) return false;
  const name = str(value.filename) || str(value.name) || str(value.wecom_file);
  refs.push({
    kind,
    ...(url ? { url } : { base64 }),
    ...(str(value.aeskey) ? { aeskey: str(value.aeskey) } : {}),
    ...(name ? { name } : {}),
  });
  return true;
}

function items(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

function content(value: unknown): string {
  return isObject(value) ? str(value.content).trim() : "";
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}
