/**
 * The OpenAI Responses API (`POST /v1/responses`) of the local platform:
 * request validation (errors in OpenAI's shape) and the answer, a `response`
 * object whole or as the API's typed Server-Sent Events.
 *
 * The gateway answers the last user message of `input`; the conversation
 * before it is the session's, so earlier messages, system and developer
 * messages, `instructions` and `previous_response_id` are accepted but not
 * used (the agent's own system prompt applies).
 *
 * @module
 */

import { z } from "zod";
import { isValidUser, USER_RULE } from "./_user.ts";
import { estimateUsage } from "./_usage.ts";
import {
  type ApiError,
  apiError,
  type ApiProtocol,
  type ApiStreamWriter,
  type ApiTurnRequest,
  DEFAULT_API_USER,
  invalidRequest,
  sseEvent,
} from "./api_protocol.ts";

const contentPart = z.object({
  type: z.string(),
  text: z.string().optional(),
  image_url: z.string().optional(),
}).loose();
const message = z.object({
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(contentPart)], {
    error: "expected a string or an array of content parts",
  }),
}).loose();
type Message = z.infer<typeof message>;
const item = z.object({ type: z.string().optional() }).loose();
const requestSchema = z.object({
  model: z.string().max(200).optional(),
  input: z.union([z.string(), z.array(item)], {
    error: "expected a string or an array of input items",
  }),
  instructions: z.string().nullish(),
  stream: z.boolean().nullish(),
  user: z.string().refine(isValidUser, USER_RULE).optional(),
  previous_response_id: z.string().nullish(),
}).loose();

/** Text-bearing parts: `input_text` from the user, `output_text` from earlier assistant turns. */
const TEXT_PARTS = new Set(["input_text", "output_text"]);

/**
 * `POST /v1/responses`.
 *
 * @example
 * ```ts
 * responsesApi.parse({ input: "hi", user: "carol" }); // { text: "hi", user: "carol", ... }
 * ```
 */
export const responsesApi: ApiProtocol = {
  idPrefix: "resp_",

  parse(body) {
    const parsed = requestSchema.safeParse(body);
    if (!parsed.success) return invalidRequest(parsed.error);
    const { input, instructions } = parsed.data;
    const messages = typeof input === "string"
      ? [{ role: "user" as const, content: input }]
      : messagesOf(input);
    if ("status" in messages) return messages;
    const last = messages.findLast((m) => m.role === "user");
    const text = last ? textOf(last.content) : "";
    const images = last && typeof last.content !== "string"
      ? last.content.filter((p) => p.type === "input_image" && p.image_url).map((p) => p.image_url!)
      : [];
    if (!text.trim() && images.length === 0) {
      return apiError(
        400,
        "Invalid request: input must contain a user message that has text or an image",
        "input",
      );
    }
    return {
      text,
      promptText: [instructions ?? "", ...messages.map((m) => textOf(m.content))]
        .filter((t) => t !== "").join("\n"),
      stream: parsed.data.stream ?? false,
      user: parsed.data.user ?? DEFAULT_API_USER,
      model: parsed.data.model ?? "hermes",
      // The Responses API always reports usage (in `response.completed`); there is nothing to ask.
      includeUsage: false,
      images,
    };
  },

  whole(id, request, text) {
    const createdAt = now();
    return responseObject(id, request, createdAt, {
      status: "completed",
      completed_at: now(),
      output: [messageItem(id, "completed", [outputText(text)])],
      output_text: text,
      usage: usageOf(request, text),
    });
  },

  stream(id, request): ApiStreamWriter {
    const createdAt = now();
    const itemId = messageId(id);
    let sequence = 0;
    const event = (type: string, fields: Record<string, unknown>) =>
      sseEvent({ type, sequence_number: sequence++, ...fields }, type);
    const inProgress = () =>
      responseObject(id, request, createdAt, {
        status: "in_progress",
        completed_at: null,
        output: [],
        usage: null,
      });
    const position = { item_id: itemId, output_index: 0, content_index: 0 };
    return {
      open: () =>
        event("response.created", { response: inProgress() }) +
        event("response.in_progress", { response: inProgress() }) +
        event("response.output_item.added", {
          output_index: 0,
          item: messageItem(id, "in_progress", []),
        }) +
        event("response.content_part.added", { ...position, part: outputText("") }),
      delta: (delta) => event("response.output_text.delta", { ...position, delta, logprobs: [] }),
      close: (text) =>
        event("response.output_text.done", { ...position, text, logprobs: [] }) +
        event("response.content_part.done", { ...position, part: outputText(text) }) +
        event("response.output_item.done", {
          output_index: 0,
          item: messageItem(id, "completed", [outputText(text)]),
        }) +
        event("response.completed", {
          response: responseObject(id, request, createdAt, {
            status: "completed",
            completed_at: now(),
            output: [messageItem(id, "completed", [outputText(text)])],
            usage: usageOf(request, text),
          }),
        }),
      fail: (message) =>
        event("response.failed", {
          response: {
            ...responseObject(id, request, createdAt, {
              status: "failed",
              completed_at: null,
              output: [],
              usage: null,
            }),
            error: { code: "server_error", message },
          },
        }),
    };
  },
};

/** The message items of `input`, in order, or the 400 of the first malformed one. */
function messagesOf(items: z.infer<typeof item>[]): Message[] | ApiError {
  const messages: Message[] = [];
  for (const [index, value] of items.entries()) {
    // A message may leave out `type` (the SDK's "easy input message"); other items say theirs.
    const isMessage = value.type === "message" || (value.type === undefined && "role" in value);
    if (!isMessage) continue;
    const parsed = message.safeParse(value);
    if (!parsed.success) {
      return invalidRequest({
        issues: parsed.error.issues.map((issue) => ({
          ...issue,
          path: ["input", index, ...issue.path],
        })),
      });
    }
    messages.push(parsed.data);
  }
  return messages;
}

function textOf(content: Message["content"]): string {
  if (typeof content === "string") return content;
  return content.filter((p) => TEXT_PARTS.has(p.type) && typeof p.text === "string")
    .map((p) => p.text).join("\n");
}

/**
 * The `response` object. Clients' own settings (instructions, temperature,
 * tools) are reported as not applied: null or empty, since the agent's apply.
 */
function responseObject(
  id: string,
  request: ApiTurnRequest,
  createdAt: number,
  state: Record<string, unknown>,
): Record<string, unknown> {
  return {
    id,
    object: "response",
    created_at: createdAt,
    model: request.model,
    ...state,
    error: null,
    incomplete_details: null,
    instructions: null,
    metadata: {},
    parallel_tool_calls: false,
    previous_response_id: null,
    temperature: null,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: null,
    truncation: "disabled",
  };
}

function messageItem(responseId: string, status: string, content: unknown[]) {
  return { type: "message", id: messageId(responseId), status, role: "assistant", content };
}

/** The message item's id, derived from the response's so whole and streamed answers agree. */
function messageId(responseId: string): string {
  return `msg_${responseId.startsWith("resp_") ? responseId.slice(5) : responseId}`;
}

function outputText(text: string) {
  return { type: "output_text", text, annotations: [], logprobs: [] };
}

function usageOf(request: ApiTurnRequest, text: string) {
  const usage = estimateUsage(request.promptText, text);
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.total_tokens,
    estimated: true,
  };
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}
