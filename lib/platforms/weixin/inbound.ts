/**
 * Reads one iLink message (from `getupdates`): who sent it, which chat it
 * belongs to (a DM, or a group by its room id), its text (quotes and voice
 * transcriptions written in the way the reference gateway shows them to the
 * agent) and the files it refers to. Anything malformed reads as undefined
 * and is skipped.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ChatType } from "../event.ts";
import type { CdnMedia } from "./media.ts";

/** A file a message refers to. */
export interface MediaRef {
  /** What the item is. */
  readonly kind: "image" | "video" | "file" | "voice";
  /** Where the file is on the CDN, and its key. */
  readonly media: CdnMedia;
  /** An image's own hex key (it wins over `media.aes_key`). */
  readonly hexKey?: string;
  /** The file's name (`file_name`; `voice.silk` for a voice). */
  readonly name?: string;
}

/** One inbound message, read. */
export interface WeixinInbound {
  /** `message_id`, else `seq`, else a hash of the message. */
  readonly messageId: string;
  /** The sender (`from_user_id`). */
  readonly from: string;
  /** `group` when it names a room (or is addressed to someone other than the bot), else `dm`. */
  readonly chatType: ChatType;
  /** The room (else the addressee) for a group, the sender for a DM. */
  readonly chatId: string;
  /** The context token to reply with, if the message brought one. */
  readonly contextToken?: string;
  /** What the agent reads: the text, with a quote or a transcription in front ("" for none). */
  readonly text: string;
  /** The files it refers to, quoted ones included. */
  readonly media: readonly MediaRef[];
}

const ITEM_KINDS: Record<number, { kind: MediaRef["kind"]; field: string }> = {
  2: { kind: "image", field: "image_item" },
  3: { kind: "voice", field: "voice_item" },
  4: { kind: "file", field: "file_item" },
  5: { kind: "video", field: "video_item" },
};

/**
 * Reads a message; undefined when it has no sender or is the bot's own.
 *
 * @example
 * ```ts
 * readInbound({ message_id: "m1", from_user_id: "u@im.wechat", context_token: "c",
 *   item_list: [{ type: 1, text_item: { text: "hi" } }] }, "bot@im.bot");
 * // { messageId: "m1", from: "u@im.wechat", chatType: "dm", chatId: "u@im.wechat", text: "hi", ... }
 * ```
 */
export function readInbound(raw: unknown, accountId: string): WeixinInbound | undefined {
  if (!isObject(raw)) return undefined;
  const from = text(raw.from_user_id);
  if (!from || from === accountId) return undefined;
  // Without an id of its own, one made of what it says: a repeat still reads as one.
  const messageId = text(raw.message_id) ?? idOf(raw.message_id) ?? idOf(raw.seq) ??
    `h-${createHash("sha256").update(JSON.stringify(raw)).digest("hex").slice(0, 24)}`;
  const to = text(raw.to_user_id);
  const room = text(raw.room_id) ?? text(raw.chat_room_id);
  const msgType = typeof raw.msg_type === "number" ? raw.msg_type : undefined;
  const group = room !== undefined ||
    (to !== undefined && accountId !== "" && to !== accountId && msgType === 1);
  const items = Array.isArray(raw.item_list) ? raw.item_list.filter(isObject) : [];
  const contextToken = text(raw.context_token);
  return {
    messageId,
    from,
    chatType: group ? "group" : "dm",
    chatId: group ? (room ?? to!) : from,
    ...(contextToken ? { contextToken } : {}),
    text: messageText(items, raw),
    media: items.flatMap((item) => [
      ...mediaOf(item),
      ...(refItem(item, raw) ? mediaOf(refItem(item, raw)!) : []),
    ]),
  };
}

/** The text the agent reads: the first text item, with a quote or a transcription in front. */
function messageText(items: Record<string, unknown>[], raw: Record<string, unknown>): string {
  const textItem = items.find((item) => item.type === 1);
  const body = text(fieldOf(textItem, "text_item")?.text) ?? "";
  const ref = textItem ? refOf(textItem, raw) : undefined;
  if (textItem && ref) {
    const title = text(ref.title);
    const quoted = isObject(ref.message_item) ? ref.message_item : undefined;
    if (quoted && ITEM_KINDS[Number(quoted.type)]) {
      return `${title ? `[引用媒体: ${title}]` : "[引用媒体]"}\n${body}`;
    }
    const quotedText = quoted ? text(fieldOf(quoted, "text_item")?.text) : undefined;
    const parts = [title, quotedText].filter((p): p is string => p !== undefined);
    return parts.length > 0 ? `[引用: ${parts.join(" | ")}]\n${body}` : body;
  }
  if (textItem) return body;
  const voice = fieldOf(items.find((item) => item.type === 3), "voice_item");
  const transcript = text(voice?.text);
  if (transcript && !hasMedia(voice)) {
    return `[Voice transcription provided by Weixin]\n${transcript}`;
  }
  return "";
}

/** The files one item refers to (a voice without audio refers to none). */
function mediaOf(item: Record<string, unknown>): MediaRef[] {
  const known = ITEM_KINDS[Number(item.type)];
  const field = known ? fieldOf(item, known.field) : undefined;
  if (!known || !field || !hasMedia(field)) return [];
  const media = field.media as CdnMedia;
  const hexKey = text(field.aeskey);
  const name = text(field.file_name);
  return [{
    kind: known.kind,
    media,
    ...(hexKey ? { hexKey } : {}),
    ...(name ? { name } : known.kind === "voice" ? { name: "voice.silk" } : {}),
  }];
}

function refOf(
  item: Record<string, unknown>,
  raw: Record<string, unknown>,
): Record<string, unknown> | undefined {
  if (isObject(item.ref_msg)) return item.ref_msg;
  return isObject(raw.ref_msg) ? raw.ref_msg : undefined;
}

function refItem(
  item: Record<string, unknown>,
  raw: Record<string, unknown>,
): Record<string, unknown> | undefined {
  if (item.type !== 1) return undefined;
  const ref = refOf(item, raw);
  return ref && isObject(ref.message_item) ? ref.message_item : undefined;
}

function hasMedia(field: Record<string, unknown> | undefined): boolean {
  if (!field || !isObject(field.media)) return false;
  const media = field.media;
  return text(media.encrypt_query_param) !== undefined || text(media.full_url) !== undefined;
}

function fieldOf(
  item: Record<string, unknown> | undefined,
  key: string,
): Record<string, unknown> | undefined {
  const value = item?.[key];
  return isObject(value) ? value : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

function idOf(value: unknown): string | undefined {
  return typeof value === "number" && Number.isFinite(value) ? String(value) : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
