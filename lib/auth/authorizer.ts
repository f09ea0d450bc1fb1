/**
 * The pipeline's authorization stage: applies each platform's access rules
 * to an inbound message; a stranger's DM under `pairing` gets a code and the
 * command for the owner to run, groups stay silent, and a sender who asked
 * within the last 10 minutes gets nothing.
 *
 * @module
 */

import type { Config } from "../config/schema.ts";
import type { MessageEvent, SessionSource } from "../platforms/event.ts";
import type { Logger } from "../util/log.ts";
import { decideAccess } from "./access_decision.ts";
import { type PlatformAccess, platformAccess } from "./access_settings.ts";
import { CODE_TTL_S, type PairingStore } from "./pairing.ts";
import { allowedCommands, commandRefusal, tierOf } from "./slash_access.ts";
import type { SlashCommandName } from "./slash_commands.ts";

/** What the authorization stage decides for one message. */
export interface AuthorizeDecision {
  readonly allow: boolean;
  /** Told to the sender when refused; nothing is sent when absent. */
  readonly reply?: string;
}

/** The authorization stage (what {@linkcode createAuthorizer} builds). */
export type AuthorizeHook = (event: MessageEvent) => AuthorizeDecision | Promise<AuthorizeDecision>;

/** A sender's slash-command rights. */
export interface CommandRights {
  readonly tier: "admin" | "user";
  readonly allowed: ReadonlySet<SlashCommandName>;
  /** The reply when `name` is not allowed. */
  readonly refusal: (name: SlashCommandName) => string;
}

/** Decides a sender's command rights (from each platform's tiers). */
export type CommandAccess = (source: SessionSource) => CommandRights;

/** Told to a stranger when no code can be issued now. */
export const TOO_MANY_REQUESTS = "Too many pairing requests right now. Please try again later.";

/**
 * The reply carrying a pairing code.
 *
 * @example
 * ```ts
 * pairingCodeMessage("K7M2QX9P"); // "Hi! I don't know you yet. ... `hermes pair approve K7M2QX9P` ..."
 * ```
 */
export function pairingCodeMessage(code: string): string {
  return [
    "Hi! I don't know you yet.",
    `Your pairing code: \`${code}\``,
    `Ask the owner of this bot to run:\n\`hermes pair approve ${code}\``,
    `The code is valid for ${CODE_TTL_S / 60} minutes.`,
  ].join("\n\n");
}

/** What {@linkcode createAuthorizer} needs. */
export interface AuthorizerOptions {
  readonly config: Config;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly store: PairingStore;
  readonly log: Logger;
  /** Whether a platform's ids ignore case, as it declares (the registry's `idsFoldCase`). */
  readonly idsFoldCase: (platform: string) => boolean;
}

/**
 * The authorization stage for the pipeline and the senders' slash-command
 * rights, both from each platform's access rules (resolved once).
 *
 * @example
 * ```ts
 * import type { Config } from "../config/schema.ts";
 * import type { Logger } from "../util/log.ts";
 * import { PairingStore } from "./pairing.ts";
 * declare const config: Config, log: Logger;
 * const store = new PairingStore("/srv/hermes/platforms/pairing");
 * const auth = createAuthorizer({ config, env: {}, store, log, idsFoldCase: (p) => p === "wecom" });
 * // the pipeline's stages: { authorize: auth.authorize, commandAccess: auth.commandRights }
 * ```
 */
export function createAuthorizer(options: AuthorizerOptions): {
  authorize: AuthorizeHook;
  commandRights: CommandAccess;
} {
  const { config, env, store, log, idsFoldCase } = options;
  const resolved = new Map<string, PlatformAccess>();
  const access = (platform: string) => {
    let rules = resolved.get(platform);
    if (!rules) {
      resolved.set(
        platform,
        rules = platformAccess(config, env, platform, {
          idsFoldCase: idsFoldCase(platform),
        }),
      );
    }
    return rules;
  };

  const authorize = async (event: MessageEvent): Promise<AuthorizeDecision> => {
    const { platform } = event.source;
    const verdict = await decideAccess(
      access(platform),
      event.source,
      (user) => store.isApproved(platform, user),
    );
    if (verdict.kind === "allow") return { allow: true };
    const about = {
      platform,
      chat_type: event.source.chatType,
      chat: event.source.chatId,
      user: event.source.userId,
    };
    if (verdict.kind === "deny") {
      log.info("message refused", { ...about, reason: verdict.reason });
      return { allow: false };
    }
    const request = await store.requestCode(platform, verdict.userId, {
      userName: event.senderName,
      chatId: event.source.chatId,
    });
    switch (request.kind) {
      case "code":
        log.info("pairing code sent; approve with: hermes pair approve CODE", {
          ...about,
          request_id: request.requestId,
        });
        return { allow: false, reply: pairingCodeMessage(request.code) };
      case "rate_limited":
        log.info("message refused", { ...about, reason: "asked for a pairing code recently" });
        return { allow: false };
      case "too_many":
      case "locked":
        log.warn("pairing request refused", {
          ...about,
          reason: request.kind === "locked"
            ? `approvals locked for ${request.lockout.minutesLeft} more minutes`
            : "too many pending requests; see hermes pair list",
        });
        return { allow: false, reply: TOO_MANY_REQUESTS };
    }
  };
  const commandRights: CommandAccess = (source) => {
    const rules = access(source.platform);
    return {
      tier: tierOf(rules, source),
      allowed: allowedCommands(rules, source),
      refusal: (name) => commandRefusal(name, source.chatType),
    };
  };
  return { authorize, commandRights };
}
