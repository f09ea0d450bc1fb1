/**
 * Token counts for the OpenAI-compatible APIs' `usage` fields. hermes does
 * not see the model's tokenizer (the agent may not even be a model), so the
 * counts are estimates, labelled as such: about four characters per token,
 * one per CJK character.
 *
 * @module
 */

/** Usage in the shape of chat completions (the Responses API renames the fields). */
export interface EstimatedUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
  /** Always true: counted by hermes, not by a tokenizer. */
  readonly estimated: true;
}

const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/g;

/**
 * An estimate of the tokens in `text`.
 *
 * @example
 * ```ts
 * estimateTokens("hello world!"); // 3
 * estimateTokens("今天天气很好"); // 6
 * ```
 */
export function estimateTokens(text: string): number {
  if (!text) return 0;
  const cjk = text.match(CJK)?.length ?? 0;
  return cjk + Math.ceil((text.length - cjk) / 4);
}

/**
 * Estimated usage of a request whose input was `prompt` and whose reply is `completion`.
 *
 * @example
 * ```ts
 * estimateUsage("hi", "hello there"); // { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4, estimated: true }
 * ```
 */
export function estimateUsage(prompt: string, completion: string): EstimatedUsage {
  const prompt_tokens = estimateTokens(prompt);
  const completion_tokens = estimateTokens(completion);
  return {
    prompt_tokens,
    completion_tokens,
    total_tokens: prompt_tokens + completion_tokens,
    estimated: true,
  };
}
