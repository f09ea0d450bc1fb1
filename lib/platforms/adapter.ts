/**
 * The adapter contract: what every platform (built in or a plugin) provides
 * so that the gateway can connect it, receive its messages as
 * `MessageEvent`s and deliver replies through it. Code outside a platform's
 * folder talks to it only through these types and the registry.
 *
 * @module
 */

import type { Logger } from "../util/log.ts";
import type {
  Attachment,
  ChatType,
  MessageEvent,
  OutboundMessage,
  SendContext,
  SendResult,
  SessionSource,
} from "./event.ts";
import type { LinkHealth, LinkHealthTracker } from "./health.ts";
import type { PlatformState } from "./platform_state.ts";

/** What a platform can do. */
export interface Capabilities {
  /**
   * How a reply shows while the agent writes it: `final` (only when done),
   * `edit` (a message edited as it grows), `draft` (the platform's own
   * streaming draft, `draft()`).
   */
  readonly streaming: "final" | "edit" | "draft";
  /**
   * Chat types where the reply streams as the platform's draft (`draft()`)
   * instead: Telegram drafts in DMs and edits in groups.
   */
  readonly draftIn?: readonly ChatType[];
  /** Longest text one message may carry, in `lengthUnit`. */
  readonly maxMessageLength: number;
  /** What `maxMessageLength` counts (default `utf16`). */
  readonly lengthUnit?: "utf16" | "bytes";
  /** It shows "typing…" (`typing()`). */
  readonly typing?: boolean;
  /** It can send without being spoken to first, in DMs and in groups. */
  readonly proactive?: { readonly dm: boolean; readonly group: boolean };
  /** Kinds of attachment it receives and sends. */
  readonly media?: {
    readonly in: readonly Attachment["kind"][];
    readonly out: readonly Attachment["kind"][];
  };
  /**
   * Its send budget: previews (edits, drafts) and sends draw on it alike.
   * Without one, edits are free and a reply is shown at every delta.
   */
  readonly rate?: { readonly perChatPerSecond: number; readonly globalPerSecond: number };
}

/**
 * The validated configuration as plain data: each section under its key
 * (`gateway`, `local`, ...), plugin platforms' settings under `platforms`.
 */
export type ConfigData = Readonly<Record<string, unknown>>;

/** The media cache and its downloader, for the files that come with messages. */
export interface MediaStore {
  /** Keeps `bytes` in the media cache; the type is sniffed from them, never taken on trust. */
  store(bytes: Uint8Array, meta?: { readonly name?: string }): Promise<Attachment>;
  /**
   * Downloads `url` into the cache through the SSRF guard (http/https, no
   * private or loopback addresses, redirects re-checked, size and time
   * limits), optionally only from `allowHosts` (and their subdomains).
   */
  download(
    url: string,
    options?: {
      readonly allowHosts?: readonly string[];
      readonly name?: string;
      /**
       * Private addresses this platform may fetch from when a URL names them
       * directly (an operator's intranet proxy, a simulator in tests).
       */
      readonly allowAddresses?: readonly string[];
      /** Turns the bytes fetched into the file (a platform's decryption). */
      readonly decode?: (bytes: Uint8Array) => Uint8Array;
    },
  ): Promise<Attachment>;
  /** A cached file by its name (the last part of an attachment's path), for serving it back. */
  open(name: string): Promise<{ bytes: Uint8Array; mime: string } | undefined>;
}

/** A list of slash commands and who is shown it. */
export interface CommandMenu {
  /** Everyone; one user, in their DM with the bot; or everyone in one chat. */
  readonly scope:
    | { readonly kind: "everyone" }
    | { readonly kind: "user"; readonly userId: string }
    | { readonly kind: "chat"; readonly chatId: string };
  readonly commands: readonly { readonly name: string; readonly summary: string }[];
}

/** Everything an adapter gets from the gateway; `S` is the type of its settings. */
export interface AdapterContext<S = Readonly<Record<string, unknown>>> {
  /** The process environment (secrets such as API keys live here). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * The platform's settings: a built-in platform's validated section
   * (`local:`), or a plugin's free-form `platforms.<name>` mapping.
   */
  readonly settings: S;
  /**
   * Hands an inbound message to the pipeline; resolves once it is journaled
   * (durable) with `accepted`, or `duplicate` for a message id already seen.
   */
  readonly emit: (event: MessageEvent) => Promise<"accepted" | "duplicate">;
  readonly log: Logger;
  readonly now: () => Date;
  /** A folder this platform may keep state in (cursors, tokens). */
  readonly stateDir: string;
  /**
   * Where cursors, context tokens, send progress and device ids are kept
   * when not in `stateDir`'s files (a pool's database); read it with
   * `stateOf(context)`.
   */
  readonly state?: PlatformState;
  /** Where the adapter records what its link does. */
  readonly health: LinkHealthTracker;
  /** The gateway's live status (for health endpoints). */
  readonly gatewayStatus: () => Record<string, unknown>;
  /**
   * What a web client shows of a chat, oldest first: the open session of a
   * DM, or a group's shared history (every member's messages), slash
   * commands and their answers included.
   */
  readonly history: (source: SessionSource) => Promise<ChatHistoryItem[]>;
  /** The slash commands users may type, for clients that list them. */
  readonly commands: readonly { readonly name: string; readonly summary: string }[];
  /**
   * The same commands as menus for platforms that show each user only what
   * they may run: everyone's, then fuller ones for some users (in their DM)
   * and chats.
   */
  readonly commandMenus: readonly CommandMenu[];
  /** Where files that come with messages are kept. */
  readonly media: MediaStore;
  /** The HTTP client to use (tests hand in one that reaches their simulators). */
  readonly fetch: typeof fetch;
  /**
   * Claims a bot credential (`scope` names its kind, `identity` the bot, e.g.
   * the token) for this gateway on this machine: resolves once it is ours;
   * rejects with a one-line error naming the gateway that holds it (then the
   * link is retried, and gets it once that gateway stops). Released when
   * this gateway exits.
   */
  readonly credentialLock: (scope: string, identity: string) => Promise<void>;
}

/** One message of a chat's history, as web clients show it. */
export interface ChatHistoryItem {
  readonly role: string;
  readonly text: string;
  /** ISO time it was stored. */
  readonly at: string;
  /** The user who said it (null for the bot). */
  readonly sender: string | null;
  /** Whom the bot answered, in a group (null otherwise). */
  readonly to: string | null;
  /** Files that came with it. */
  readonly attachments?: readonly Attachment[];
}

/** A connected (or connecting) platform. */
export interface PlatformAdapter {
  /** The platform's name, e.g. `local`. */
  readonly name: string;
  readonly capabilities: Capabilities;
  /** Connects; resolves when the link can deliver. Rejects when it cannot. */
  connect(): Promise<void>;
  /** Closes the link; safe to call more than once and after a failed connect. */
  disconnect(reason: string): Promise<void>;
  /**
   * Sends a new message to the chat of `to`. Resolves `sent` or `deferred`
   * ("not now"); throws a `PlatformError` when the platform refuses.
   */
  send(to: SessionSource, message: OutboundMessage, context: SendContext): Promise<SendResult>;
  /** Replaces the text of a sent message (platforms that stream by `edit`). */
  edit?(
    to: SessionSource,
    messageId: string,
    message: OutboundMessage,
    context: SendContext,
  ): Promise<SendResult>;
  /** Shows the reply so far as the platform's streaming draft (`streaming: "draft"`). */
  draft?(to: SessionSource, draftId: string, text: string): Promise<void>;
  /** Shows "typing…" in the chat of `to`; the turn refreshes it while the agent works. */
  typing?(to: SessionSource): Promise<void>;
  /** The link's health now. */
  health(): LinkHealth;
  /**
   * Called when the pipeline is done with an inbound message (answered,
   * refused, superseded or failed): adapters that hold a request open for the
   * reply (HTTP APIs) close it here.
   */
  settled?(event: MessageEvent, outcome: string): void;
}

/**
 * A platform the registry knows: how to tell it is configured, and how to
 * create it; `S` is the type of its settings.
 */
export interface PlatformDefinition<S = Readonly<Record<string, unknown>>> {
  readonly name: string;
  /** One line for `gateway status` and logs. */
  readonly description: string;
  /**
   * Whether the platform's user and chat ids ignore case: true, `Alice` and
   * `alice` name the same user (WeCom userids); false, ids are opaque
   * strings compared exactly (Weixin's `o9cq8…@im.wechat`), so an allowlist
   * entry or an approval of `Alice` never admits `alice`. Allowlists and
   * pairing go by this flag alone. Unset: true, as the first contract
   * compared every id, so plugins written against it keep their users.
   */
  readonly idsFoldCase?: boolean;
  /**
   * Whether the configuration turns this platform on. `othersEnabled` says
   * whether any other platform is on (the local platform uses it to enable
   * itself when nothing else is configured).
   */
  enabled(
    config: ConfigData,
    env: Readonly<Record<string, string | undefined>>,
    othersEnabled: boolean,
  ): boolean;
  /** Checks what the schema cannot (throws ConfigError, exit 78), before the home is claimed. */
  check?(config: ConfigData, env: Readonly<Record<string, string | undefined>>): void;
  /** Creates the adapter (may load its code first); nothing connects until `connect()`. */
  create(context: AdapterContext<S>): PlatformAdapter | Promise<PlatformAdapter>;
}
