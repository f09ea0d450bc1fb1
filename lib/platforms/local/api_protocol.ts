/**
 * What the local platform's OpenAI-compatible endpoints have in common: a
 * request names the text to answer and the user (so the session); the reply
 * comes back whole or as Server-Sent Events. Each endpoint (chat
 * completions, Responses) is one {@linkcode ApiProtocol}: how to read its
 * request and how to write its answer.
 *
 * @module
 */

/** A request the gateway answers as one inbound message. */
export interface ApiTurnRequest {
  /** What the gateway answers: the last user message's text. */
  readonly text: string;
  /** Everything the client sent as input, for the usage estimate. */
  readonly promptText: string;
  readonly stream: boolean;
  /** Which local user (and so which session) speaks. */
  readonly user: string;
  /** The model name echoed back (the gateway's agent answers whatever it is). */
  readonly model: string;
  /** The client asked for usage in the stream (`stream_options.include_usage`). */
  readonly includeUsage: boolean;
  /** URLs of the images of the answered message (data URLs or http/https), in order. */
  readonly images: readonly string[];
}

/** An error answered in OpenAI's shape. */
export interface ApiError {
  readonly status: number;
  readonly body: {
    error: { message: string; type: string; param: string | null; code: string | null };
  };
}

/** Writes one streamed answer as SSE text, event by event. */
export interface ApiStreamWriter {
  /** The events before the first delta. */
  open(): string;
  /** The events carrying `delta`, the text appended to the reply. */
  delta(delta: string): string;
  /** The closing events, given the whole reply (`[DONE]` included where the API has it). */
  close(text: string): string;
  /** The events that end the stream with an error instead (the reply cannot be finished). */
  fail(message: string): string;
}

/** One OpenAI-compatible endpoint. */
export interface ApiProtocol {
  /** Prefix of the ids of its answers (`chatcmpl-`, `resp_`). */
  readonly idPrefix: string;
  /** Validates a parsed JSON body. */
  parse(body: unknown): ApiTurnRequest | ApiError;
  /** The non-streamed answer. */
  whole(id: string, request: ApiTurnRequest, text: string): Record<string, unknown>;
  /** A writer of the streamed answer. */
  stream(id: string, request: ApiTurnRequest): ApiStreamWriter;
}

/** The session of API clients that send no `user`: their own, not the web chat's `local`. */
export const DEFAULT_API_USER = "api";

/**
 * An OpenAI-shaped error.
 *
 * @example
 * ```ts
 * apiError(400, "Invalid request: messages: too small", "messages").status; // 400
 * ```
 */
export function apiError(
  status: number,
  message: string,
  param: string | null = null,
  type = status === 401 ? "authentication_error" : "invalid_request_error",
): ApiError {
  return { status, body: { error: { message, type, param, code: null } } };
}

/**
 * The 400 for a body that failed validation, naming the first problem and where it is.
 *
 * @example
 * ```ts
 * invalidRequest({ issues: [{ path: ["messages", 0, "content"], message: "expected a string" }] })
 *   .body.error.message; // "Invalid request: messages.0.content: expected a string"
 * ```
 */
export function invalidRequest(
  error: { issues: readonly { path: PropertyKey[]; message: string }[] },
): ApiError {
  const issue = error.issues[0]!;
  const param = issue.path.map(String).join(".") || null;
  return apiError(400, `Invalid request: ${param ? `${param}: ` : ""}${issue.message}`, param);
}

/**
 * One Server-Sent Event (`event:` line only when named).
 *
 * @example
 * ```ts
 * sseEvent({ type: "response.created" }, "response.created");
 * // 'event: response.created\ndata: {"type":"response.created"}\n\n'
 * ```
 */
export function sseEvent(data: unknown, event?: string): string {
  return `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;
}
