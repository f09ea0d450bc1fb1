/**
 * What the gateway reads of an adapter's capabilities, defaults applied.
 * Adapters written against the first contract (`{ edit, liveEdits,
 * maxMessageLength }`) keep working: `edit` means `streaming: "edit"`, and
 * edits that were not `liveEdits` are paced as if rate-limited.
 *
 * @module
 */

import type { Capabilities, PlatformAdapter } from "./adapter.ts";
import type { Attachment, ChatType } from "./event.ts";

/** The capabilities with every default applied. */
export interface EffectiveCapabilities {
  readonly streaming: Capabilities["streaming"];
  readonly maxMessageLength: number;
  readonly lengthUnit: "utf16" | "bytes";
  /** Previews cost nothing: show the reply at every delta (else paced). */
  readonly livePreviews: boolean;
  /** Kinds of file the platform sends. */
  readonly mediaOut: readonly Attachment["kind"][];
}

/** The first contract's capabilities. */
interface LegacyCapabilities {
  readonly edit?: boolean;
  readonly liveEdits?: boolean;
  readonly maxMessageLength: number;
}

/**
 * The effective capabilities of `adapter`.
 *
 * @example
 * ```ts
 * capabilitiesOf({ capabilities: { streaming: "edit", maxMessageLength: 4096 } }).livePreviews; // true
 * ```
 */
export function capabilitiesOf(
  adapter: Pick<PlatformAdapter, "capabilities">,
): EffectiveCapabilities {
  const given = adapter.capabilities as Partial<Capabilities> & LegacyCapabilities;
  const streaming = given.streaming ?? (given.edit ? "edit" : "final");
  const livePreviews = given.streaming !== undefined
    ? given.rate === undefined
    : given.liveEdits === true;
  return {
    streaming,
    maxMessageLength: given.maxMessageLength,
    lengthUnit: given.lengthUnit ?? "utf16",
    livePreviews,
    mediaOut: given.media?.out ?? [],
  };
}

/**
 * How a reply to a chat of `chatType` streams on `adapter`: its draft where
 * `draftIn` names the chat type (and it has `draft()`), else `streaming`.
 *
 * @example
 * ```ts
 * const telegramLike = { capabilities: { streaming: "edit", draftIn: ["dm"], maxMessageLength: 4096 } } as const;
 * streamingFor({ ...telegramLike, draft: async () => {} }, "dm"); // "draft"
 * streamingFor({ ...telegramLike, draft: async () => {} }, "group"); // "edit"
 * ```
 */
export function streamingFor(
  adapter: Pick<PlatformAdapter, "capabilities" | "draft">,
  chatType: ChatType,
): Capabilities["streaming"] {
  if (adapter.draft && adapter.capabilities.draftIn?.includes(chatType)) return "draft";
  return capabilitiesOf(adapter).streaming;
}
