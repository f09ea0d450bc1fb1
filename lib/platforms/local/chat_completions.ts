/**
 * The OpenAI-compatible `POST /v1/chat/completions` of the local platform:
 * request validation (errors in OpenAI's shape) and the answer, whole or as
 * Server-Sent Events (with a usage chunk when `stream_options.include_usage`).
 *
 * The gateway answers the last user message; the conversation before it is
 * the session's, so earlier messages and system or developer messages the
 * client sends are not used (the agent's own system prompt applies).
 *
 * @module
 */

import { z } from "zod";
import { isValidUser, USER_RULE } from "./_user.ts";
import { estimateUsage } from "./_usage.ts";
import {
  apiError,
  type ApiProtocol,
  type ApiStreamWriter,
  DEFAULT_API_USER,
  invalidRequest,
  sseEvent,
} from "./api_protocol.ts";

const contentPart = z.object({
  type: z.string(),
  text: z.string().optional(),
  image_url: z.union([z.string(), z.object({ url: z.string() }).loose()]).optional(),
}).loose();
const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([z.string(), z.array(contentPart), z.null()], {
    error: "expected a string or an array of content parts",
  }).optional(),
}).loose();
const requestSchema = z.object({
  model: z.string().max(200).optional(),
  messages: z.array(message).min(1),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullish(),
  user: z.string().refine(isValidUser, USER_RULE).optional(),
}).loose();

/**
 * `POST /v1/chat/completions`.
 *
 * @example
 * ```ts
 * chatCompletions.parse({ messages: [{ role: "user", content: "hi" }] }); // { text: "hi", user: "api", ... }
 * ```
 */
export const chatCompletions: ApiProtocol = {
  idPrefix: "chatcmpl-",

  parse(body) {
    const parsed = requestSchema.safeParse(body);
    if (!parsed.success) return invalidRequest(parsed.error);
    const { messages } = parsed.data;
    const last = messages.findLast((m) => m.role === "user");
    const text = last ? textOf(last.content) : "";
    const images = last ? imagesOf(last.content) : [];
    if (!text.trim() && images.length === 0) {
      return apiError(
        400,
        "Invalid request: messages must end with a user message that has text or an image",
        "messages",
      );
    }
    return {
      text,
      promptText: messages.map((m) => textOf(m.content)).join("\n"),
      stream: parsed.data.stream ?? false,
      user: parsed.data.user ?? DEFAULT_API_USER,
      model: parsed.data.model ?? "hermes",
      includeUsage: parsed.data.stream_options?.include_usage === true,
      images,
    };
  },

  whole(id, request, text) {
    return {
      id,
      object: "chat.completion",
      created: now(),
      model: request.model,
      choices: [{
        index: 0,
        message: { role: "assistant", content: text, refusal: null },
        finish_reason: "stop",
        logprobs: null,
      }],
      usage: estimateUsage(request.promptText, text),
    };
  },

  stream(id, request): ApiStreamWriter {
    const created = now();
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      sseEvent({
        id,
        object: "chat.completion.chunk",
        created,
        model: request.model,
        choices,
        ...extra,
      });
    const choice = (delta: Record<string, unknown>, finish: string | null) => ({
      index: 0,
      delta,
      finish_reason: finish,
      logprobs: null,
    });
    return {
      open: () => chunk([choice({ role: "assistant", content: "" }, null)]),
      delta: (delta) => chunk([choice({ content: delta }, null)]),
      close(text) {
        const usage = request.includeUsage
          ? chunk([], { usage: estimateUsage(request.promptText, text) })
          : "";
        return chunk([choice({}, "stop")]) + usage + "data: [DONE]\n\n";
      },
      // OpenAI's own mid-stream errors: an `error` object and no [DONE] (clients raise it).
      fail: (message) => sseEvent(apiError(503, message, null, "server_error").body),
    };
  },
};

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function textOf(content: z.infer<typeof message>["content"]): string {
  if (typeof content === "string") return content;
  if (!content) return "";
  return content.filter((p) => p.type === "text" && typeof p.text === "string")
    .map((p) => p.text).join("\n");
}

function imagesOf(content: z.infer<typeof message>["content"]): string[] {
  if (!Array.isArray(content)) return [];
  return content.filter((p) => p.type === "image_url" && p.image_url !== undefined)
    .map((p) => typeof p.image_url === "string" ? p.image_url : p.image_url!.url);
}
