/**
 * The OpenAI-compatible `POST /v1/chat/completions` of the local platform:
 * request validation (errors in OpenAI's shape) and the response bodies,
 * whole or as Server-Sent Events.
 *
 * @module
 */

import { z } from "zod";
import { isValidUser, USER_RULE } from "./_user.ts";

/** A validated request. */
export interface ChatRequest {
  /** The text of the last user message: what the gateway answers. */
  readonly text: string;
  readonly stream: boolean;
  /** The `user` field: which local user (and session) speaks. Default `local`. */
  readonly user: string;
  readonly model: string;
}

/** An error answered in OpenAI's shape. */
export interface ApiError {
  readonly status: number;
  readonly body: {
    error: { message: string; type: string; param: string | null; code: string | null };
  };
}

const contentPart = z.object({ type: z.string(), text: z.string().optional() }).loose();
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
  user: z.string().refine(isValidUser, USER_RULE).optional(),
}).loose();

/**
 * Validates a parsed JSON body.
 *
 * @example
 * ```ts
 * parseChatRequest({ messages: [{ role: "user", content: "hi" }] }); // { text: "hi", stream: false, user: "local", ... }
 * ```
 */
export function parseChatRequest(body: unknown): ChatRequest | ApiError {
  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = issue.path.join(".") || null;
    return apiError(400, `Invalid request: ${param ? `${param}: ` : ""}${issue.message}`, param);
  }
  const last = parsed.data.messages.findLast((m) => m.role === "user");
  const text = last ? textOf(last.content) : "";
  if (!text.trim()) {
    return apiError(
      400,
      "Invalid request: messages must end with a user message that has text",
      "messages",
    );
  }
  return {
    text,
    stream: parsed.data.stream ?? false,
    user: parsed.data.user ?? "local",
    model: parsed.data.model ?? "hermes",
  };
}

/** An OpenAI-shaped error. */
export function apiError(
  status: number,
  message: string,
  param: string | null = null,
  type = status === 401 ? "authentication_error" : "invalid_request_error",
): ApiError {
  return { status, body: { error: { message, type, param, code: null } } };
}

/** The non-streaming response body. */
export function completionBody(id: string, model: string, text: string): Record<string, unknown> {
  return {
    id,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: text },
      finish_reason: "stop",
      logprobs: null,
    }],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  };
}

/** One SSE event of a streamed response (`delta` undefined: the closing chunk). */
export function chunkEvent(
  id: string,
  model: string,
  delta: { role?: "assistant"; content?: string } | undefined,
): string {
  const chunk = {
    id,
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{
      index: 0,
      delta: delta ?? {},
      finish_reason: delta ? null : "stop",
      logprobs: null,
    }],
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

function textOf(content: z.infer<typeof message>["content"]): string {
  if (typeof content === "string") return content;
  if (!content) return "";
  return content.filter((p) => p.type === "text" && typeof p.text === "string")
    .map((p) => p.text).join("\n");
}
