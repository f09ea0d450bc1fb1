/**
 * The web chat's WebSocket (`GET /ws?user=NAME[&group=ROOM][&token=KEY]`):
 * who the socket speaks as, the `ready` frame with the chat's history, and
 * each `message` frame the page sends, turned into one inbound message.
 * Members of a room see each other's messages as they arrive.
 *
 * A refused socket (bad user name, bad key) is answered with an HTTP error
 * before the upgrade; the page asks the same URL with a plain GET to learn
 * why and shows it.
 *
 * @module
 */

import type { AdapterContext } from "../adapter.ts";
import type { LocalSettings } from "./section.ts";
import type { Attachment, MessageEvent, SessionSource } from "../event.ts";
import { apiError } from "./api_protocol.ts";
import { json } from "./_http.ts";
import { decodeDataUrl } from "./_data_url.ts";
import { isValidUser, USER_RULE } from "./_user.ts";
import type { ChatRooms } from "./rooms.ts";
import { webChatMessageId } from "./_message_id.ts";

/** Longest message the page may send, in characters (UTF-16 code units). */
export const MAX_MESSAGE_CHARS = 100_000;

/** Most files one message may carry. */
export const MAX_FILES = 4;

/** What the socket handler needs from the adapter. */
export interface WebChatDeps {
  readonly context: AdapterContext<LocalSettings>;
  readonly rooms: ChatRooms;
  /** The 401 when the key is missing or wrong; undefined when the request may go on. */
  readonly authorize: (request: Request, token: string | null) => Response | undefined;
}

/**
 * Upgrades `request` to the web chat's WebSocket, or answers why not (401,
 * 400, 426 for a request that is no upgrade).
 *
 * @example
 * ```ts
 * import type { AdapterContext } from "../adapter.ts";
 * import { ChatRooms } from "./rooms.ts";
 * import type { LocalSettings } from "./section.ts";
 * declare const context: AdapterContext<LocalSettings>;
 * declare const request: Request; // GET /ws?user=alice with an Upgrade header
 *
 * const response = upgradeWebChat(request, new URL(request.url), {
 *   context,
 *   rooms: new ChatRooms(),
 *   authorize: () => undefined, // no API key configured
 * });
 * ```
 */
export function upgradeWebChat(request: Request, url: URL, deps: WebChatDeps): Response {
  const refused = deps.authorize(request, url.searchParams.get("token"));
  if (refused) return refused;
  const user = url.searchParams.get("user") || "local";
  if (!isValidUser(user)) {
    return json(400, apiError(400, `Invalid user name: ${USER_RULE}`, "user").body);
  }
  const group = url.searchParams.get("group");
  if (group !== null && !isValidUser(group)) {
    return json(400, apiError(400, `Invalid group name: ${USER_RULE}`, "group").body);
  }
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return json(426, apiError(426, "Expected a WebSocket upgrade").body);
  }
  const { socket, response } = Deno.upgradeWebSocket(request);
  const source: SessionSource = group === null
    ? { platform: "local", chatType: "dm", chatId: user, userId: user }
    : { platform: "local", chatType: "group", chatId: group, userId: user };
  const { context, rooms } = deps;
  socket.onopen = async () => {
    let history;
    try {
      history = await context.history(source);
    } catch (error) {
      context.log.error("cannot read the chat's history", { error });
      socket.close(1011, "the gateway cannot read the chat's history");
      return;
    }
    if (socket.readyState !== WebSocket.OPEN) return;
    history = history.map((m) =>
      m.attachments ? { ...m, attachments: m.attachments.map(shownFile) } : m
    );
    rooms.join(source, socket);
    socket.send(JSON.stringify({
      type: "ready",
      user,
      group,
      commands: context.commands,
      history,
      limits: { max_message_chars: MAX_MESSAGE_CHARS, max_files: MAX_FILES },
    }));
  };
  socket.onclose = () => rooms.leave(source, socket);
  socket.onmessage = (message) => void onFrame(socket, source, message.data, deps);
  return response;
}

async function onFrame(
  socket: WebSocket,
  source: SessionSource,
  data: unknown,
  { context, rooms }: WebChatDeps,
): Promise<void> {
  const reply = (frame: Record<string, unknown>) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  };
  let frame: { type?: unknown; text?: unknown; id?: unknown; attachments?: unknown };
  try {
    if (typeof data !== "string") throw new Error("binary frames are not read");
    frame = JSON.parse(data);
    if (frame === null || typeof frame !== "object") throw new Error("not an object");
  } catch (error) {
    reply({ type: "error", error: `Cannot read frame: ${(error as Error).message}` });
    return;
  }
  if (
    frame.id !== undefined && (typeof frame.id !== "string" || !/^[\w-]{1,64}$/.test(frame.id))
  ) {
    reply({ type: "error", error: "id must be 1-64 letters, digits, '-' or '_'" });
    return;
  }
  const id = frame.id as string | undefined;
  const files = filesOf(frame.attachments);
  if (typeof files === "string") {
    reply({ type: "error", id, error: files });
    return;
  }
  if (
    frame.type !== "message" || typeof frame.text !== "string" ||
    (!frame.text.trim() && files.length === 0)
  ) {
    reply({ type: "error", id, error: 'Expected {"type":"message","text":"..."}' });
    return;
  }
  if (frame.text.length > MAX_MESSAGE_CHARS) {
    reply({
      type: "error",
      id,
      error:
        `Message not sent: it has ${frame.text.length} characters; the limit is ${MAX_MESSAGE_CHARS}`,
    });
    return;
  }
  const clientId = id ?? crypto.randomUUID();
  let attachments: Attachment[];
  try {
    attachments = await Promise.all(
      files.map((f) => context.media.store(decodeDataUrl(f.data), { name: f.name })),
    );
  } catch (error) {
    reply({ type: "error", id: clientId, error: `File not sent: ${(error as Error).message}` });
    return;
  }
  const event: MessageEvent = {
    messageId: webChatMessageId(source, clientId),
    source,
    text: frame.text,
    receivedAt: context.now().toISOString(),
    ...(attachments.length ? { attachments } : {}),
  };
  let outcome: "accepted" | "duplicate";
  try {
    outcome = await context.emit(event);
  } catch (error) {
    context.log.error("local message not accepted", { error });
    reply({
      type: "error",
      id: clientId,
      error: "The gateway could not store the message; try again",
    });
    return;
  }
  context.health.inbound(source.chatType === "dm" ? "dm" : "group");
  reply({ type: "accepted", id: clientId, message_id: event.messageId });
  if (outcome === "duplicate") return; // a resend after a reconnect: the room saw it
  rooms.broadcast(source, {
    type: "user_message",
    id: event.messageId,
    sender: source.userId,
    text: event.text,
    at: event.receivedAt,
    attachments: attachments.map(shownFile),
  }, socket);
}

/** The files of a frame (`[{ name, data: "data:...;base64,..." }]`), or why they are refused. */
function filesOf(value: unknown): { name?: string; data: string }[] | string {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return "attachments must be a list of { name, data } objects";
  if (value.length > MAX_FILES) return `File not sent: at most ${MAX_FILES} files a message`;
  const files: { name?: string; data: string }[] = [];
  for (const item of value) {
    const { name, data } = (item ?? {}) as { name?: unknown; data?: unknown };
    if (typeof data !== "string") return "each attachment needs data (a base64 data URL)";
    files.push({ data, ...(typeof name === "string" ? { name: name.slice(0, 200) } : {}) });
  }
  return files;
}

/** What the page learns of a file: no server path, only the name it fetches it by (`media/<file>`). */
function shownFile(file: Attachment) {
  return {
    kind: file.kind,
    mime: file.mime,
    name: file.name ?? null,
    size: file.size,
    file: file.path.split("/").pop(),
  };
}
