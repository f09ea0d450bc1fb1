/**
 * The web chat's rooms: the WebSockets open on one chat (a user's DM, or a
 * group room shared by everyone who joined it), and the frames they get. A
 * reply that grows as the agent streams is sent as the text appended since
 * the last frame, not the whole text again; its final frame carries the
 * whole text, so a socket that joined midway ends up with the right reply.
 *
 * @module
 */

import type { SessionSource } from "../event.ts";

/** A reply (or a part of one) as the page shows it. */
export interface ReplyUpdate {
  readonly id: string;
  /** The inbound message answered. */
  readonly replyTo: string | null;
  /** Whom it answers (the sender, shown in group rooms). */
  readonly to: string | null;
  readonly text: string;
  readonly final: boolean;
}

/**
 * The sockets of every room.
 *
 * @example
 * ```ts
 * declare const socket: WebSocket; // from Deno.upgradeWebSocket
 * const source = { platform: "local", chatType: "group" as const, chatId: "team", userId: "alice" };
 * const rooms = new ChatRooms();
 * rooms.join(source, socket);
 * rooms.reply(source, { id: "r-1", replyTo: "ws-1", to: "alice", text: "Hel", final: false });
 * rooms.reply(source, { id: "r-1", replyTo: "ws-1", to: "alice", text: "Hello", final: false }); // sends {append: "lo"}
 * ```
 */
export class ChatRooms {
  readonly #rooms = new Map<string, Set<WebSocket>>();
  /** What the sockets of a room have of each reply still streaming. */
  readonly #streaming = new Map<string, { text: string; replyTo: string | null }>();

  /** Adds `socket` to the room of `chat`. */
  join(chat: SessionSource, socket: WebSocket): void {
    const room = roomOf(chat);
    let sockets = this.#rooms.get(room);
    if (!sockets) this.#rooms.set(room, sockets = new Set());
    sockets.add(socket);
  }

  /** Removes `socket` from the room of `chat`. */
  leave(chat: SessionSource, socket: WebSocket): void {
    const room = roomOf(chat);
    const sockets = this.#rooms.get(room);
    sockets?.delete(socket);
    if (sockets?.size === 0) this.#rooms.delete(room);
  }

  /** Whether a socket is in the room of `chat` (someone sees its replies grow). */
  watched(chat: SessionSource): boolean {
    return this.#rooms.has(roomOf(chat));
  }

  /** Sends `frame` to every open socket of the room of `chat`, except `except`. */
  broadcast(chat: SessionSource, frame: Record<string, unknown>, except?: WebSocket): void {
    const sockets = this.#rooms.get(roomOf(chat));
    if (!sockets) return;
    const data = JSON.stringify(frame);
    for (const socket of sockets) {
      if (socket !== except && socket.readyState === WebSocket.OPEN) socket.send(data);
    }
  }

  /** Shows a new or grown reply in the room of `chat`. */
  reply(chat: SessionSource, update: ReplyUpdate): void {
    const key = `${roomOf(chat)}\n${update.id}`;
    const shown = this.#streaming.get(key)?.text;
    // An append names only the reply: the sockets learnt the rest from its first frame.
    const frame: Record<string, unknown> =
      !update.final && shown !== undefined && update.text.startsWith(shown)
        ? { type: "message", id: update.id, append: update.text.slice(shown.length), final: false }
        : {
          type: "message",
          id: update.id,
          reply_to: update.replyTo,
          to: update.to,
          text: update.text,
          final: update.final,
        };
    if (update.final) this.#streaming.delete(key);
    else this.#streaming.set(key, { text: update.text, replyTo: update.replyTo });
    this.broadcast(chat, frame);
  }

  /** The inbound message `replyTo` is settled: forget its replies still marked as streaming. */
  settle(replyTo: string): void {
    for (const [key, entry] of this.#streaming) {
      if (entry.replyTo === replyTo) this.#streaming.delete(key);
    }
  }

  /** Closes every socket (the gateway stops). */
  closeAll(code: number, reason: string): void {
    for (const sockets of this.#rooms.values()) {
      for (const socket of sockets) socket.close(code, reason);
    }
    this.#rooms.clear();
    this.#streaming.clear();
  }
}

/** The room of a chat: DMs and groups of the same name stay apart. */
function roomOf(chat: Pick<SessionSource, "chatType" | "chatId">): string {
  return `${chat.chatType}:${chat.chatId}`;
}
