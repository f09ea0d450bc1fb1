/**
 * `hermes send`: a message an operator hands the running gateway for one
 * chat of an enabled platform. It becomes outbox rows as a reply does (cut
 * into the platform's parts, the same deadline), so it goes out in order with
 * the chat's replies and is retried, deferred until the chat's next message
 * or given up like them; the gateway never opens a connection of its own for
 * it. The answer says what became of its first part.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { PlatformAdapter } from "../platforms/adapter.ts";
import { capabilitiesOf } from "../platforms/capabilities.ts";
import type { SessionSource } from "../platforms/event.ts";
import type { OutboxPart, StateStore } from "../storage/state_store.ts";
import type { Logger } from "../util/log.ts";
import { nearest } from "../util/suggest.ts";
import { chunkText } from "./chunk_text.ts";
import type { Outbox } from "./outbox.ts";

/** How long {@linkcode sendMessage} waits for the first part's try by default. */
export const SEND_WAIT_MS = 10_000;

/** The outcome a sent message's journal entry names. */
const ORIGIN = "hermes send";

const USAGE = 'hermes send local:alice "The backup finished"';

/** A chat of a platform, as a `hermes send` target names it. */
export interface SendTarget {
  readonly platform: string;
  readonly chatId: string;
}

/**
 * Reads `platform:chat_id`, split at the first colon (chat ids may hold
 * colons); the platform is matched in lower case. Throws a UsageError when a
 * part is missing.
 *
 * @example
 * ```ts
 * parseTarget("wecom:wrkSFfCgAA:room"); // { platform: "wecom", chatId: "wrkSFfCgAA:room" }
 * ```
 */
export function parseTarget(target: string): SendTarget {
  const colon = target.indexOf(":");
  if (colon < 0) {
    throw new UsageError(`Invalid target "${target}": expected PLATFORM:CHAT_ID`, USAGE);
  }
  const platform = target.slice(0, colon).trim().toLowerCase();
  const chatId = target.slice(colon + 1).trim();
  if (platform === "") {
    throw new UsageError(`Invalid target "${target}": the platform is empty`, USAGE);
  }
  if (chatId === "") {
    throw new UsageError(`Invalid target "${target}": the chat id is empty`, USAGE);
  }
  return { platform, chatId };
}

/** What {@linkcode sendMessage} needs of the running gateway. */
export interface SendMessageOptions {
  readonly store: StateStore;
  readonly outbox: Outbox;
  /** The adapter of an enabled platform. */
  readonly adapter: (platform: string) => PlatformAdapter | undefined;
  readonly isConnected: (platform: string) => boolean;
  /** The names of the enabled platforms. */
  readonly enabled: readonly string[];
  /** The names of every registered platform (enabled or not). */
  readonly registered: readonly string[];
  /** When a part stored now is given up (the replies' deadline). */
  readonly deadline: () => string;
  readonly log: Logger;
  /** Longest wait for the first part's try (default {@linkcode SEND_WAIT_MS}). */
  readonly waitMs?: number;
}

/** What became of a message handed to {@linkcode sendMessage}. */
export interface SendAnswer {
  /** Its parts, in order, as the store holds them now. */
  readonly parts: readonly OutboxPart[];
  /** Whether the platform's link is up. */
  readonly connected: boolean;
  /**
   * The chat's oldest open part when it is an earlier message's: the one
   * this message waits behind (a reply deferred until the chat's next
   * message, say).
   */
  readonly heldBy: OutboxPart | null;
}

/**
 * Serves the control method `send` (`{ target: "platform:chat_id", text,
 * format? }`): stores the message as outbox rows for that chat, kicks the
 * outbox and waits (at most `waitMs`) until its first part was sent,
 * deferred, failed (a retry is due) or given up. The chat's type and thread
 * come from what the store knows of the chat (a DM when nothing). Throws a
 * UsageError for a bad target, a platform not enabled or an empty text.
 *
 * @example
 * ```ts
 * declare const options: SendMessageOptions; // the gateway's store, outbox and platforms
 * const answer = await sendMessage({ target: "local:alice", text: "Backup done" }, options);
 * answer.parts[0]?.state; // "sent"
 * ```
 */
export async function sendMessage(
  params: Readonly<Record<string, unknown>>,
  options: SendMessageOptions,
): Promise<SendAnswer> {
  const { target, text, format } = checkParams(params);
  const { platform, chatId } = parseTarget(target);
  const adapter = options.enabled.includes(platform) ? options.adapter(platform) : undefined;
  if (!adapter) throw notEnabled(target, platform, options);
  const { store, outbox } = options;
  const to = targetOf(platform, chatId, await store.knownChat(platform, chatId));
  const { maxMessageLength, lengthUnit } = capabilitiesOf(adapter);
  const parts = await store.enqueueMessage(
    to,
    chunkText(text, maxMessageLength, lengthUnit).map((chunk) => ({ text: chunk.text, format })),
    { deadline: options.deadline(), origin: ORIGIN },
  );
  const first = parts[0]!;
  options.log.info("operator message queued", {
    platform,
    chat: chatId,
    chat_type: to.chatType,
    key: first.idempotencyKey,
    parts: parts.length,
  });
  // No try comes while the link is down or an earlier part waits for the chat to speak.
  const blocked = !options.isConnected(platform) || waitsForInbound(await heldBy(store, first));
  const tried = blocked ? undefined : outbox.whenTried(first.id, options.waitMs ?? SEND_WAIT_MS);
  outbox.kick(first.chatKey);
  await tried;
  try {
    return {
      parts: await store.partsOf(first.inboundId),
      connected: options.isConnected(platform),
      heldBy: await heldBy(store, first),
    };
  } catch (error) {
    // The gateway stopped meanwhile (the store is closed): the rows are kept, as stored.
    options.log.debug("cannot read the message's parts again", { error });
    return { parts, connected: false, heldBy: null };
  }
}

function checkParams(params: Readonly<Record<string, unknown>>) {
  const { target, text, format } = params;
  if (typeof target !== "string") {
    throw new UsageError('Cannot send: "target" must be a string PLATFORM:CHAT_ID', USAGE);
  }
  if (typeof text !== "string" || text.trim() === "") {
    throw new UsageError("Cannot send an empty message", USAGE);
  }
  if (format !== undefined && format !== "plain" && format !== "markdown") {
    throw new UsageError(
      `Cannot send with format "${String(format)}": expected "plain" or "markdown"`,
    );
  }
  return { target, text, format: (format ?? "plain") as "plain" | "markdown" };
}

function notEnabled(target: string, platform: string, options: SendMessageOptions): UsageError {
  const enabled = options.enabled.length ? options.enabled.join(", ") : "none";
  const what = options.registered.includes(platform)
    ? `platform "${platform}" is not enabled`
    : `there is no platform "${platform}"`;
  const guess = options.registered.includes(platform)
    ? undefined
    : nearest(platform, options.enabled);
  return new UsageError(
    `Cannot send to "${target}": ${what} (enabled: ${enabled})`,
    guess ? `did you mean "${guess}:${target.slice(target.indexOf(":") + 1)}"?` : undefined,
  );
}

/**
 * Where the message goes: the chat as last heard from (its type, its
 * thread), else a DM with the user of that id. Not to one member of a group.
 */
function targetOf(platform: string, chatId: string, known: SessionSource | undefined) {
  const chatType = known?.chatType ?? "dm";
  const to: SessionSource = {
    platform,
    chatType,
    chatId,
    ...(known?.threadId !== undefined ? { threadId: known.threadId } : {}),
    ...(chatType === "dm" ? { userId: known?.userId ?? chatId } : {}),
  };
  return to;
}

/** The chat's oldest open part, when it came before `part` (an earlier message's). */
async function heldBy(store: StateStore, part: OutboxPart): Promise<OutboxPart | null> {
  const next = await store.nextPart(part.chatKey);
  return next && next.id < part.id ? next : null;
}

function waitsForInbound(part: OutboxPart | null): boolean {
  return part?.state === "deferred" && part.waitingForInbound;
}
