/**
 * The `openai` agent: any OpenAI-compatible chat completions endpoint,
 * streamed. Rate limits (429) and server errors (5xx) are retried with
 * backoff (honouring Retry-After) until the first token arrives; a timeout
 * covers the wait for each token.
 *
 * @module
 */

import { openAIMessages } from "./_openai_messages.ts";
import { backoffDelay } from "../util/backoff.ts";
import { type Agent, AgentError, type AgentTurn } from "./agent.ts";
import { sseData } from "./_sse.ts";

/** How to reach the provider. */
export interface OpenAIAgentOptions {
  /** e.g. `https://api.openai.com/v1` (the `/chat/completions` path is appended). */
  readonly baseUrl: string;
  readonly apiKey?: string;
  readonly model: string;
  readonly systemPrompt?: string;
  /** Images go to the model as `image_url` parts (default); false: a text note each. */
  readonly vision?: boolean;
  /** Longest wait for the response and then for each token. */
  readonly timeoutMs: number;
  /** Retries after a 429, a 5xx or a network error. */
  readonly maxRetries: number;
  /** Base of the retry backoff. Default 1000 ms. */
  readonly retryBaseMs?: number;
  readonly fetch?: typeof fetch;
}

/**
 * Streams replies from an OpenAI-compatible endpoint.
 *
 * @example
 * ```ts
 * const agent = new OpenAIAgent({ baseUrl: "http://127.0.0.1:8000/v1", model: "m", timeoutMs: 60_000, maxRetries: 3 });
 * ```
 */
export class OpenAIAgent implements Agent {
  readonly provider = "openai";
  readonly description: string;
  readonly #options: OpenAIAgentOptions;
  readonly #url: string;

  constructor(options: OpenAIAgentOptions) {
    this.#options = options;
    this.#url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`;
    this.description = `openai ${options.model} at ${options.baseUrl}`;
  }

  async *run(turn: AgentTurn): AsyncIterable<string> {
    const watchdog = new Watchdog(this.#options.timeoutMs, turn.signal);
    try {
      const response = await this.#connect(turn, watchdog);
      for await (const data of sseData(response.body!)) {
        watchdog.reset();
        if (data === "[DONE]") return;
        const delta = parseDelta(data);
        if (delta) yield delta;
      }
    } catch (error) {
      if (turn.signal.aborted) return;
      if (watchdog.fired) {
        throw new AgentError(`the model sent nothing for ${this.#options.timeoutMs / 1000} s`);
      }
      if (error instanceof AgentError) throw error;
      throw new AgentError("the model's stream broke", { cause: error, detail: messageOf(error) });
    } finally {
      watchdog.clear();
    }
  }

  async #connect(turn: AgentTurn, watchdog: Watchdog): Promise<Response> {
    const { apiKey, model, systemPrompt, maxRetries } = this.#options;
    const doFetch = this.#options.fetch ?? fetch;
    const history = await openAIMessages(turn.history, this.#options.vision ?? true);
    const messages = systemPrompt
      ? [{ role: "system", content: systemPrompt }, ...history]
      : history;
    const body = JSON.stringify({ model, stream: true, messages, user: turn.source.userId });
    for (let attempt = 0;; attempt++) {
      let retryable: string;
      let detail: string;
      let retryAfterMs: number | undefined;
      try {
        const response = await doFetch(this.#url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "text/event-stream",
            ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
          },
          body,
          signal: watchdog.signal,
        });
        if (response.ok && response.body) return response;
        // The provider's words go to the log only: a body may echo a key or a prompt.
        detail = await errorDetail(response);
        if (response.status !== 429 && response.status < 500) {
          throw new AgentError(`the model refused the request (HTTP ${response.status})`, {
            detail,
          });
        }
        retryable = `HTTP ${response.status}`;
        retryAfterMs = retryAfter(response.headers.get("retry-after"));
      } catch (error) {
        if (error instanceof AgentError || turn.signal.aborted || watchdog.fired) throw error;
        retryable = "network error";
        detail = messageOf(error);
      }
      if (attempt >= maxRetries) {
        throw new AgentError(
          `the model is unavailable after ${attempt + 1} attempts (${retryable})`,
          { detail },
        );
      }
      const delay = retryAfterMs ?? backoffDelay(attempt, { baseMs: this.#options.retryBaseMs });
      watchdog.pause();
      await sleep(delay, turn.signal);
      if (turn.signal.aborted) throw new AgentError("the turn was stopped");
      watchdog.reset();
    }
  }
}

/** Aborts a fetch when no progress was made for `ms`, or when the turn is aborted. */
class Watchdog {
  readonly #controller = new AbortController();
  readonly #ms: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  fired = false;

  constructor(ms: number, turn: AbortSignal) {
    this.#ms = ms;
    this.signal = AbortSignal.any([this.#controller.signal, turn]);
    this.reset();
  }

  readonly signal: AbortSignal;

  reset(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.fired = true;
      this.#controller.abort(new Error("timed out"));
    }, this.#ms);
  }

  pause(): void {
    clearTimeout(this.#timer);
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

function parseDelta(data: string): string | undefined {
  try {
    const chunk = JSON.parse(data) as {
      choices?: { delta?: { content?: unknown } }[];
      error?: { message?: string };
    };
    if (chunk.error) {
      throw new AgentError("the model reported an error", { detail: chunk.error.message });
    }
    const content = chunk.choices?.[0]?.delta?.content;
    return typeof content === "string" ? content : undefined;
  } catch (error) {
    if (error instanceof AgentError) throw error;
    return undefined; // a malformed chunk is skipped, like a keep-alive
  }
}

/** The provider's error message (or body), bounded for the log. */
async function errorDetail(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  try {
    const message = (JSON.parse(text) as { error?: { message?: string } }).error?.message;
    if (message) return message.slice(0, 2_000);
  } catch {
    // not JSON
  }
  return text.slice(0, 2_000);
}

function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.min(60_000, Math.max(0, seconds * 1000));
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.min(60_000, Math.max(0, at - Date.now())) : undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
