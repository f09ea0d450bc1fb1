/**
 * Reads a streamed chat completion (`chat.completion.chunk` Server-Sent
 * Events) the way a client sees it, for tests that cut streams short.
 *
 * @module
 */

/** What a streamed chat completion delivered. */
export interface StreamedChunks {
  /** Each non-empty content delta, in order. */
  readonly content: string[];
  readonly finishReasons: string[];
  /** `error` objects of error events. */
  readonly errors: { message: string; type: string }[];
  /** The stream ended with `data: [DONE]`. */
  done: boolean;
}

/** Reads `response` to its end; `onContent` hears each non-empty delta as it arrives. */
export async function readChatChunks(
  response: Response,
  onContent: (content: string) => void = () => {},
): Promise<StreamedChunks> {
  const events: StreamedChunks = { content: [], finishReasons: [], errors: [], done: false };
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const bytes of response.body!) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice("data: ".length);
        if (data === "[DONE]") {
          events.done = true;
          continue;
        }
        const parsed = JSON.parse(data);
        if (parsed.error) events.errors.push(parsed.error);
        const choice = parsed.choices?.[0];
        if (choice?.finish_reason) events.finishReasons.push(choice.finish_reason);
        if (choice?.delta?.content) {
          events.content.push(choice.delta.content);
          onContent(choice.delta.content);
        }
      }
    }
  }
  return events;
}
