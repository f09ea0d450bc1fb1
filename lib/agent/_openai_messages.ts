/**
 * A turn's history in the shape of chat completions: plain text, or, for a
 * message that came with files, content parts: the text, then each image
 * as an `image_url` part holding the file's own bytes (a data URL; nothing
 * is re-encoded) when the model sees images, else a note naming the file.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { Attachment } from "../platforms/event.ts";
import type { AgentMessage } from "./agent.ts";

/** One message as the chat completions API takes it. */
export type OpenAIMessage =
  | { role: string; content: string }
  | {
    role: string;
    content: ({ type: "text"; text: string } | { type: "image_url"; image_url: { url: string } })[];
  };

/** The messages of `history`; with `vision`, images go as `image_url` parts. */
export async function openAIMessages(
  history: readonly AgentMessage[],
  vision: boolean,
): Promise<OpenAIMessage[]> {
  return await Promise.all(history.map(async (message) => {
    if (!message.attachments?.length) return { role: message.role, content: message.content };
    const parts: Exclude<OpenAIMessage["content"], string> = [];
    if (message.content) parts.push({ type: "text", text: message.content });
    for (const file of message.attachments) {
      const bytes = vision && file.kind === "image"
        ? await Deno.readFile(file.path).catch(() => undefined)
        : undefined;
      if (bytes) {
        const url = `data:${file.mime};base64,${Buffer.from(bytes).toString("base64")}`;
        parts.push({ type: "image_url", image_url: { url } });
      } else {
        parts.push({ type: "text", text: attachmentNote(file) });
      }
    }
    return { role: message.role, content: parts };
  }));
}

/**
 * How a file is described to a model that does not see it.
 *
 * @example
 * ```ts
 * attachmentNote({ kind: "file", mime: "application/pdf", name: "q3.pdf", size: 2048, path: "/srv/hermes/media/ab.pdf" });
 * // "[attached file q3.pdf (application/pdf, 2048 bytes) at /srv/hermes/media/ab.pdf]"
 * ```
 */
export function attachmentNote(file: Attachment): string {
  const name = file.name ?? file.path.split("/").pop();
  return `[attached ${file.kind} ${name} (${file.mime}, ${file.size} bytes) at ${file.path}]`;
}
