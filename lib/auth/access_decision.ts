/**
 * The access decision for one inbound message: allow it, refuse it, or (a
 * stranger's DM under `pairing`) offer a pairing code.
 *
 * @module
 */

import type { SessionSource } from "../platforms/event.ts";
import { normaliseId } from "./allowlist.ts";
import type { PlatformAccess } from "./access_settings.ts";

/** What the access rules say about one message. */
export type AccessVerdict =
  | { readonly kind: "allow" }
  /** A stranger's DM under `pairing`: offer a code. */
  | { readonly kind: "pair"; readonly userId: string }
  | { readonly kind: "deny"; readonly reason: string };

/** The user a message is from (in a DM without a user id, the chat is the user). */
export function senderOf(source: SessionSource): string | undefined {
  return source.userId ?? (source.chatType === "dm" ? source.chatId : undefined);
}

/**
 * Decides whether `source` may reach the agent. `isApproved` asks the
 * pairing store; it is only called when the allowlists do not decide.
 *
 * @example
 * ```ts
 * import type { PlatformAccess } from "./access_settings.ts";
 * import type { MessageEvent } from "../platforms/event.ts";
 * import type { PairingStore } from "./pairing.ts";
 * declare const access: PlatformAccess, event: MessageEvent, store: PairingStore;
 * const verdict = await decideAccess(access, event.source, (u) => store.isApproved("local", u));
 * if (verdict.kind === "pair") await store.requestCode("local", verdict.userId);
 * ```
 */
export async function decideAccess(
  access: PlatformAccess,
  source: SessionSource,
  isApproved: (userId: string) => Promise<boolean>,
): Promise<AccessVerdict> {
  const user = senderOf(source);
  const known = async () =>
    user !== undefined &&
    (access.allowFrom.has(user) || access.adminFrom.has(user) || await isApproved(user));

  if (source.chatType === "dm") {
    switch (access.dmPolicy) {
      case "disabled":
        return deny("direct messages are disabled (dm_policy: disabled)");
      case "open":
        return { kind: "allow" };
      case "allowlist":
        return await known() ? { kind: "allow" } : deny("sender is not in allow_from nor paired");
      case "pairing":
        if (await known()) return { kind: "allow" };
        return user === undefined ? deny("no sender id") : { kind: "pair", userId: user };
    }
  }

  const group = access.groups.get(normaliseId(source.chatId, access.platform, access.idsFoldCase));
  const member = () => !group?.allowFrom || group.allowFrom.has(user) || access.adminFrom.has(user);
  switch (access.groupPolicy) {
    case "disabled":
      return deny("group messages are disabled (group_policy: disabled)");
    case "open":
      return member() ? { kind: "allow" } : deny("sender is not in this group's allow_from");
    case "allowlist":
      if (!access.groupAllowFrom.has(source.chatId)) {
        return deny("group is not in group_allow_from");
      }
      return member() ? { kind: "allow" } : deny("sender is not in this group's allow_from");
    case "pairing":
      return await known() && member()
        ? { kind: "allow" }
        : deny("sender is not in allow_from nor paired (group_policy: pairing)");
  }
}

function deny(reason: string): AccessVerdict {
  return { kind: "deny", reason };
}
