/**
 * The path of one message after its adapter: journal (durable first, drops
 * repeats), authorize, find the session, apply the busy policy, answer a
 * slash command or run the agent turn, deliver, finish the journal entry.
 *
 * Each session has a lane: one turn runs at a time; under `queue` further
 * messages wait in order, under `interrupt` a new message stops the running
 * turn and supersedes queued ones (their text stays in the transcript, so
 * the agent sees everything the user said). A message joins its lane the
 * moment it is journaled (the session key needs only its source): its
 * authorization runs at once, beside the others', but a message is routed
 * only after every earlier one of its session, so a slow authorization
 * never lets a later message overtake it.
 *
 * @module
 */

import { BoundedMap } from "../util/bounded_map.ts";
import type { Agent } from "../agent/agent.ts";
import type { Config } from "../config/schema.ts";
import type { PlatformAdapter } from "../platforms/adapter.ts";
import type { Attachment, MessageEvent } from "../platforms/event.ts";
import { sessionKey } from "../sessions/key.ts";
import type { SessionSource } from "../platforms/event.ts";
import { expiry, resetPolicyFor } from "../sessions/reset.ts";
import type { Logger } from "../util/log.ts";
import { helpText, parseSlashCommand, type SlashCommand } from "./commands.ts";
import { SLASH_COMMANDS } from "../auth/slash_commands.ts";
import type { Outbox } from "./outbox.ts";
import type { RateBudgets } from "./rate_budget.ts";
import { Previews } from "./previews.ts";
import { askedBy, RecentHistory } from "./recent_history.ts";
import { runTurn } from "./turn.ts";
import {
  chatKeyOf,
  type Expiry,
  type InboundEntry,
  type StateStore,
} from "../storage/state_store.ts";
import type {
  AuthorizeDecision,
  AuthorizeHook,
  CommandAccess,
  CommandRights,
} from "../auth/authorizer.ts";

/** Lets everyone through. */
export const allowEveryone: AuthorizeHook = () => ({ allow: true });

const EVERY_COMMAND: CommandRights = {
  tier: "user",
  allowed: new Set(SLASH_COMMANDS.map((c) => c.name)),
  refusal: (name) => `/${name} is not available here.`,
};

/** What the pipeline needs. */
export interface PipelineOptions {
  /** Where every message, session and reply is kept. */
  readonly store: StateStore;
  /** Sends the reply parts the store holds (kicked after each reply is stored). */
  readonly outbox: Outbox;
  /** The platforms' send budgets, shared with the outbox (previews wait for room). */
  readonly budgets?: RateBudgets;
  /** Folders a reply's `MEDIA:` lines may send files from. */
  readonly mediaFolders?: readonly string[];
  /** Keeps a copy of a file a reply sends (the media cache). */
  readonly keepFile?: (bytes: Uint8Array, name: string) => Promise<Attachment>;
  readonly config: Config;
  readonly agent: Agent;
  /** The adapter of a platform, if it is enabled. */
  readonly adapter: (platform: string) => PlatformAdapter | undefined;
  readonly log: Logger;
  readonly authorize?: AuthorizeHook;
  /**
   * How long a message's authorization may take before it fails (default
   * 30 s): the session's later messages wait for it, so one that hangs (a
   * lock another process never releases) must not hold them forever.
   */
  readonly authorizeTimeoutMs?: number;
  /** Who may run which slash command; default everyone, every command. */
  readonly commandAccess?: CommandAccess;
  /** What the agent sees of a source (PII redaction); default the source itself. */
  readonly agentView?: (source: SessionSource) => SessionSource;
  /** Registers in-flight work, so a drain waits for it. */
  readonly track?: <T>(label: string, work: Promise<T>) => Promise<T>;
  /** The gateway's status line for `/status`. */
  readonly gatewayState?: () => string;
  readonly now?: () => Date;
}

/**
 * Why a running turn was stopped: a newer message, `/stop`, `/new`, or the
 * gateway shutting down after its drain (the message stays journaled).
 */
export type StopReason = "interrupted" | "stopped" | "reset" | "shutdown";

interface Running {
  readonly entry: InboundEntry;
  readonly controller: AbortController;
  /** Settles when the turn has ended, however it ended. */
  readonly ended: Promise<void>;
}

/** A message of the lane being authorized: routed when every earlier one has been. */
interface Arrival {
  readonly entry: InboundEntry;
  /** Its authorization, asked for when it arrived. */
  readonly decision: Promise<AuthorizeDecision>;
}

interface Lane {
  running?: Running;
  readonly queue: InboundEntry[];
  /** Messages not routed yet, in the order they came; the first is being routed. */
  readonly arriving: Arrival[];
}

/** Most attempts at one message before its session is suspended (a crash loop, a poison turn). */
export const MAX_ATTEMPTS = 3;

/** Open sessions the reset sweep reads at once. */
const SWEEP_PAGE = 1_000;
/** Pages one sweep reads at most (10,000 sessions a minute). */
const SWEEP_PAGES = 10;

/**
 * The message pipeline of one gateway.
 *
 * @example
 * ```ts
 * import type { Agent } from "../agent/agent.ts";
 * import type { Config } from "../config/schema.ts";
 * import type { MessageEvent } from "../platforms/event.ts";
 * import type { PlatformLinks } from "../platforms/links.ts";
 * import type { StateStore } from "../storage/state_store.ts";
 * import type { Logger } from "../util/log.ts";
 * import type { Outbox } from "./outbox.ts";
 * declare const store: StateStore, outbox: Outbox, config: Config, agent: Agent;
 * declare const links: PlatformLinks, log: Logger, event: MessageEvent;
 * const adapter = (p: string) => links.get(p);
 * const pipeline = new Pipeline({ store, outbox, config, agent, adapter, log });
 * await pipeline.load(); // what a crash left, before anything new is accepted
 * await pipeline.accept(event); // durable once this resolves; the reply follows
 * ```
 */
export class Pipeline {
  /** The state the pipeline keeps (sessions, transcripts, the journal). */
  readonly store: StateStore;
  readonly #options: PipelineOptions;
  readonly #lanes = new Map<string, Lane>();
  readonly #now: () => Date;
  #holding = false;
  /** The id of the last open session the reset sweep looked at (0: start over). */
  #sweptThrough = 0;
  /** Replies in the outbox whose inbound message settles once they are delivered. */
  readonly #awaitingDelivery = new Map<number, { event: MessageEvent; outcome: string }>();
  /** Entries whose parts ended before their reply was claimed here (the newest 1,000). */
  readonly #doneEarly = new Set<number>();
  /** What a crash left unfinished, taken before this gateway accepts anything new. */
  #leftovers = new Set<InboundEntry>();
  /**
   * Journal ids this pipeline took on in this run (the newest 10,000): an
   * adoption never takes them again, wherever they are now.
   */
  readonly #handled = new BoundedMap<number, true>(10_000);
  /** Platforms let go of (their lease was lost) and not adopted again: nothing of theirs starts. */
  readonly #lettingGo = new Set<string>();
  /** Entries being tried again (replayed after a crash, resumed after a drain): their tries are counted. */
  readonly #retries = new Set<number>();
  /** The agent's recent history of each session, so a turn need not read the transcript. */
  readonly #recent: RecentHistory;

  constructor(options: PipelineOptions) {
    this.#options = options;
    this.store = options.store;
    this.#now = options.now ?? (() => new Date());
    this.#recent = new RecentHistory({ perSession: options.config.agent.history_limit });
  }

  /** Takes what a crash left unfinished; call once, before the first `accept`. */
  async load(): Promise<void> {
    this.#leftovers = new Set(await this.store.unfinishedInbound());
  }

  /** Turns running now. */
  get runningTurns(): number {
    let count = 0;
    for (const lane of this.#lanes.values()) if (lane.running) count++;
    return count;
  }

  /**
   * Journals `event` (durable when this resolves) and starts answering it.
   * Returns "duplicate" for a message id already seen on its platform.
   */
  async accept(event: MessageEvent): Promise<"accepted" | "duplicate"> {
    const entry = await this.store.acceptInbound(event, this.#keyOf(event));
    if (!entry) {
      this.#options.log.debug("duplicate message dropped", {
        platform: event.source.platform,
        message_id: event.messageId,
      });
      return "duplicate";
    }
    if (!this.#holding) {
      // What a crash left of this session comes first (journal order), even before its replay.
      for (const left of [...this.#leftovers]) {
        if (left.sessionKey === entry.sessionKey) this.#replayOne(left);
      }
      this.#dispatch(entry);
    }
    return "accepted";
  }

  /**
   * Answers messages a crash left unfinished (found when the pipeline was
   * created, oldest first); those older than the resume window are given up.
   * Only platforms for which `ready` holds are replayed now; call again when
   * another platform connects.
   */
  replay(ready: (platform: string) => boolean): number {
    let replayed = 0;
    for (const entry of [...this.#leftovers]) {
      if (ready(entry.event.source.platform) && this.#replayOne(entry)) replayed++;
    }
    if (replayed > 0) this.#options.log.info("replaying unfinished messages", { count: replayed });
    return replayed;
  }

  /**
   * Takes on what the shared journal holds unfinished for `platform` that
   * this pipeline never had (a pool: the gateway that held the bot's lease
   * before this one died or handed it over mid-turn), then replays it like
   * a crash's leftovers. Call once the platform is connected under the
   * lease; resolves with how many messages are answered again.
   */
  async adopt(platform: string): Promise<number> {
    this.#lettingGo.delete(platform);
    const unfinished = await this.store.unfinishedInbound();
    // What was read before (perhaps before the lease was ours) may have been answered since.
    for (const entry of [...this.#leftovers]) {
      if (entry.event.source.platform === platform) this.#leftovers.delete(entry);
    }
    for (const entry of unfinished) {
      if (entry.event.source.platform === platform && !this.#handled.has(entry.id)) {
        this.#leftovers.add(entry);
      }
    }
    return this.replay((p) => p === platform);
  }

  /**
   * Lets go of `platform` (its bot's lease was lost): its running turns end
   * as at a shutdown (nothing more is written or sent for them), its queued
   * messages leave the lanes, and all of them stay journaled for whichever
   * gateway holds the lease next, this one included (adopt takes them
   * again). Resolves once the running turns have ended.
   */
  async relinquish(platform: string): Promise<void> {
    this.#lettingGo.add(platform);
    const ending: Promise<void>[] = [];
    let dropped = 0;
    const mine = (entry: InboundEntry) => entry.event.source.platform === platform;
    for (const entry of [...this.#leftovers]) if (mine(entry)) this.#leftovers.delete(entry);
    for (const lane of this.#lanes.values()) {
      for (let i = lane.queue.length - 1; i >= 0; i--) {
        const entry = lane.queue[i]!;
        if (!mine(entry)) continue;
        lane.queue.splice(i, 1);
        this.#handled.delete(entry.id);
        dropped++;
      }
      if (lane.running && mine(lane.running.entry)) {
        this.#handled.delete(lane.running.entry.id);
        lane.running.controller.abort("shutdown" satisfies StopReason);
        ending.push(lane.running.ended);
      }
    }
    if (ending.length > 0 || dropped > 0) {
      this.#options.log.warn(
        "bot let go: its turns ended unanswered, for the lease holder to answer",
        {
          platform,
          running: ending.length,
          queued: dropped,
        },
      );
    }
    await Promise.allSettled(ending);
  }

  /** Answers a leftover of a crash again, or gives it up when stale; whether it is answered. */
  #replayOne(entry: InboundEntry): boolean {
    this.#leftovers.delete(entry);
    if (!this.#fresh(entry)) {
      this.#finishQuietly(entry, "failed", "stale: older than the resume window");
      return false;
    }
    this.#retries.add(entry.id);
    this.#dispatch(entry);
    return true;
  }

  /** Stops starting turns (a drain); queued messages stay journaled for the next gateway. */
  hold(): void {
    this.#holding = true;
  }

  /** Marks running turns as cut off by a drain timeout: resumed on the session's next message. */
  async interruptRunning(): Promise<number> {
    const ids = [...this.#lanes.values()].flatMap((lane) =>
      lane.running ? [lane.running.entry.id] : []
    );
    await this.store.markInterrupted(ids);
    return ids.length;
  }

  /**
   * Stops every running turn because the gateway is going away (the drain
   * is over): agents end (a command agent's program is killed), nothing more
   * is delivered, and the messages stay journaled for the next gateway.
   * Resolves once the turns have ended.
   */
  async abandonRunning(): Promise<void> {
    this.#holding = true;
    const ending: Promise<void>[] = [];
    for (const lane of this.#lanes.values()) {
      if (!lane.running) continue;
      lane.running.controller.abort("shutdown" satisfies StopReason);
      ending.push(lane.running.ended);
    }
    await Promise.all(ending);
  }

  /**
   * Ends open sessions whose reset policy says so (the watcher calls this
   * every minute). Each call looks at up to `pages` pages of `pageSize` open
   * sessions, going on from where the last call stopped and starting over
   * after the last one, so every session is visited however many there are.
   */
  async sweepSessions(pageSize = SWEEP_PAGE, pages = SWEEP_PAGES): Promise<number> {
    let ended = 0;
    for (let page = 0; page < pages; page++) {
      const now = this.#now();
      const sessions = await this.store.openSessionsAfter(this.#sweptThrough, pageSize);
      this.#sweptThrough = sessions.length < pageSize ? 0 : sessions.at(-1)!.id;
      for (const session of sessions) {
        if (this.#lanes.has(session.key)) continue;
        const policy = resetPolicyFor(
          this.#options.config,
          session.platform,
          session.chat_type as "dm" | "group" | "channel",
        );
        const why = expiry(policy, new Date(session.updated_at), now);
        if (why) {
          await this.store.endSession(session.id, why);
          ended++;
        }
      }
      if (this.#sweptThrough === 0) break; // the walk is complete; the next call starts over
    }
    return ended;
  }

  #keyOf(event: MessageEvent): string {
    return sessionKey(event.source, {
      groupSessionsPerUser: this.#options.config.sessions.group_sessions_per_user,
    });
  }

  #fresh(entry: InboundEntry): boolean {
    const windowMs = this.#options.config.sessions.resume_window_minutes * 60_000;
    return this.#now().getTime() - Date.parse(entry.event.receivedAt) <= windowMs;
  }

  /**
   * Joins `entry` to its lane now, in the order messages come: its
   * authorization starts at once, and it is routed after the lane's
   * earlier messages.
   */
  #dispatch(entry: InboundEntry): void {
    this.#handled.set(entry.id, true);
    const authorize = this.#options.authorize ?? allowEveryone;
    const limitMs = this.#options.authorizeTimeoutMs ?? AUTHORIZE_TIMEOUT_MS;
    const decision = withTimeout(
      (async () => await authorize(entry.event))(),
      limitMs,
      `authorization took longer than ${limitMs} ms`,
    );
    decision.catch(() => {}); // its failure is reported when its turn to be routed comes
    const lane = this.#lane(entry.sessionKey);
    lane.arriving.push({ entry, decision });
    if (lane.arriving.length === 1) void this.#routeInOrder(entry.sessionKey, lane);
  }

  /**
   * Routes the lane's arriving messages one after another, each once it is
   * authorized. A message that fails or is refused is finished and the next
   * goes on; none waits for another's delivery or turn, only for its routing.
   */
  async #routeInOrder(key: string, lane: Lane): Promise<void> {
    while (lane.arriving.length > 0) {
      const { entry, decision } = lane.arriving[0]!;
      try {
        await this.#route(entry, await decision);
      } catch (error) {
        this.#options.log.error("message handling failed", { entry: entry.id, error });
        await this.#finishQuietly(entry, "failed", `internal error: ${String(error)}`);
      }
      lane.arriving.shift();
    }
    this.#dropIfIdle(key, lane);
  }

  async #route(entry: InboundEntry, decision: AuthorizeDecision): Promise<void> {
    if (!decision.allow) {
      if (decision.reply) await this.#answer(entry, decision.reply, "refused");
      else await this.#finish(entry, "done", "refused");
      return;
    }
    // An admitted message's reply context serves its chat; parts the chat deferred may go now.
    await this.store.admitInbound(entry);
    this.#options.outbox.kick(chatKeyOf(entry.event.source));
    const command = parseSlashCommand(entry.event.text);
    const rights = command ? this.#rights(entry.event.source) : EVERY_COMMAND;
    if (command && !rights.allowed.has(command.name)) {
      await this.#answer(entry, rights.refusal(command.name), "command refused", {
        exchange: true,
      });
      return;
    }
    if (command && command.name !== "queue") {
      await this.#command(entry, command, rights);
      return;
    }
    if (command?.name === "queue" && !command.args) {
      await this.#answer(entry, "Usage: /queue TEXT (answered after the current reply)", "command");
      return;
    }
    // A turn a drain cut off is answered first, then the message that woke it.
    const interrupted = await this.store.interruptedInbound(entry.sessionKey);
    const lane = this.#lane(entry.sessionKey);
    const busy = lane.running !== undefined || lane.queue.length > 0;
    if (busy && !command && this.#options.config.sessions.busy_policy === "interrupt") {
      for (const superseded of lane.queue.splice(0)) void this.#supersede(superseded);
      lane.running?.controller.abort("interrupted" satisfies StopReason);
    }
    for (const earlier of interrupted) {
      if (lane.queue.some((e) => e.id === earlier.id) || lane.running?.entry.id === earlier.id) {
        continue;
      }
      if (this.#fresh(earlier)) {
        this.#retries.add(earlier.id);
        this.#handled.set(earlier.id, true);
        lane.queue.push(earlier);
      } else void this.#finishQuietly(earlier, "failed", "stale: older than the resume window");
    }
    lane.queue.push(entry);
    void this.#pump(entry.sessionKey, lane);
  }

  #lane(key: string): Lane {
    let lane = this.#lanes.get(key);
    if (!lane) this.#lanes.set(key, lane = { queue: [], arriving: [] });
    return lane;
  }

  /** Forgets a lane with nothing running, queued or arriving. */
  #dropIfIdle(key: string, lane: Lane): void {
    if (
      !lane.running && lane.queue.length === 0 && lane.arriving.length === 0 &&
      this.#lanes.get(key) === lane
    ) {
      this.#lanes.delete(key);
    }
  }

  async #pump(key: string, lane: Lane): Promise<void> {
    if (lane.running) return;
    while (lane.queue.length > 0 && !this.#holding) {
      const entry = lane.queue.shift()!;
      if (this.#lettingGo.has(entry.event.source.platform)) {
        this.#handled.delete(entry.id); // routed after its bot was let go: adopt takes it
        continue;
      }
      const controller = new AbortController();
      const work = this.#turn(entry, controller.signal).catch((error) => {
        const code = (error as { code?: unknown })?.code;
        if (code === "lease_lost" || code === "already_finished") {
          // Another gateway of the pool holds the bot now: it answers this message, not us;
          // should the lease come back here, the message is taken on again (adopt).
          this.#handled.delete(entry.id);
          this.#options.log.warn(
            code === "lease_lost"
              ? "turn dropped: this gateway lost the bot's lease"
              : "turn dropped: another gateway answered its message",
            { entry: entry.id, error },
          );
          return;
        }
        this.#options.log.error("agent turn failed", { entry: entry.id, error });
        return this.#finishQuietly(entry, "failed", `internal error: ${String(error)}`);
      });
      lane.running = { entry, controller, ended: work };
      try {
        await (this.#options.track ? this.#options.track(`turn ${key}`, work) : work);
      } finally {
        lane.running = undefined;
      }
    }
    this.#dropIfIdle(key, lane);
  }

  async #turn(entry: InboundEntry, signal: AbortSignal): Promise<void> {
    const { log, config, agent } = this.#options;
    const adapter = this.#options.adapter(entry.event.source.platform);
    if (!adapter) {
      await this.#finish(entry, "failed", "platform not enabled");
      return;
    }
    // Only a try after a crash or a drain is counted (a write less per message): the count
    // is then the tries before this one.
    if (this.#retries.delete(entry.id) && await this.store.countAttempt(entry.id) >= MAX_ATTEMPTS) {
      const open = await this.store.findOpenSession(entry.sessionKey);
      if (open) await this.store.endSession(open.id, "suspended");
      log.warn("giving up on a message after repeated failures; session suspended", {
        entry: entry.id,
        session: entry.sessionKey,
      });
      await this.#answer(
        entry,
        `Sorry, I could not answer your message after ${MAX_ATTEMPTS} tries. The conversation starts fresh now.`,
        "suspended after repeated failures",
        { state: "failed" },
      );
      return;
    }
    const { outcome, queued } = await runTurn({
      entry,
      signal,
      adapter,
      agent,
      config,
      store: this.store,
      log,
      expired: this.#expired(entry),
      agentSource: this.#options.agentView?.(entry.event.source) ?? entry.event.source,
      deadline: this.deliveryDeadline(),
      budgets: this.#options.budgets,
      mediaFolders: this.#options.mediaFolders,
      keepFile: this.#options.keepFile,
      recent: this.#recent,
      chatHeld: (chatKey) => this.#options.outbox.holds(chatKey),
    });
    if (queued) this.#delivering(entry, outcome);
    else if (outcome !== "shutdown") this.#settled(entry, outcome);
  }

  /**
   * A part of the reply to entry `inboundId` reached an end (the outbox
   * says): once every part has, the inbound message settles.
   */
  async partDone(inboundId: number): Promise<void> {
    const waiting = this.#awaitingDelivery.get(inboundId);
    if (!waiting) {
      // Its reply was stored but not yet claimed (or by an earlier gateway): keep a note.
      this.#doneEarly.add(inboundId);
      if (this.#doneEarly.size > 1_000) {
        this.#doneEarly.delete(this.#doneEarly.values().next().value!);
      }
      return;
    }
    const parts = await this.store.partsOf(inboundId);
    const ended = parts.every((p) => ["sent", "undeliverable", "deferred"].includes(p.state));
    if (!ended || !this.#awaitingDelivery.delete(inboundId)) return;
    const lost = parts.filter((p) => p.state === "undeliverable").length;
    this.#settledEvent(
      waiting.event,
      lost > 0 ? `${waiting.outcome} (${lost} part(s) undeliverable)` : waiting.outcome,
    );
  }

  /** The reply to `entry` is in the outbox: it settles when delivered. */
  #delivering(entry: InboundEntry, outcome: string): void {
    this.#awaitingDelivery.set(entry.id, { event: entry.event, outcome });
    if (this.#doneEarly.delete(entry.id)) void this.partDone(entry.id);
    this.#options.outbox.kick(chatKeyOf(entry.event.source));
  }

  /**
   * When a part stored now is given up if still not delivered:
   * `gateway.delivery_deadline` from now (replies, answers and `hermes send`).
   */
  deliveryDeadline(): string {
    return new Date(
      this.#now().getTime() + this.#options.config.gateway.delivery_deadline * 1000,
    ).toISOString();
  }

  /** Whether the open session of `entry` expired under its reset policy, and why. */
  #expired(entry: InboundEntry): Expiry {
    const { platform, chatType } = entry.event.source;
    const policy = resetPolicyFor(this.#options.config, platform, chatType);
    return (session) => expiry(policy, new Date(session.updated_at), this.#now());
  }

  #rights(source: SessionSource): CommandRights {
    return this.#options.commandAccess?.(source) ?? EVERY_COMMAND;
  }

  async #command(entry: InboundEntry, command: SlashCommand, rights: CommandRights) {
    const lane = this.#lanes.get(entry.sessionKey);
    const source = entry.event.source;
    let text: string;
    switch (command.name) {
      case "help":
        text = helpText(rights.allowed);
        break;
      case "new":
      case "reset": {
        this.#cancelLane(lane, "reset");
        const open = await this.store.findOpenSession(entry.sessionKey);
        if (open) await this.store.endSession(open.id, command.name);
        text = "Started a new session.";
        break;
      }
      case "stop":
        text = lane?.running ? "Stopped." : "Nothing to stop.";
        this.#cancelLane(lane, "stopped");
        break;
      case "status": {
        const open = await this.store.findOpenSession(entry.sessionKey);
        text = [
          `Session: ${entry.sessionKey}`,
          open ? `Messages: ${open.message_count} since ${open.started_at}` : "Messages: none yet",
          `Agent: ${this.#options.agent.description}`,
          `Busy: ${lane?.running ? "answering" : "idle"}, ${lane?.queue.length ?? 0} queued` +
          ` (policy ${this.#options.config.sessions.busy_policy})`,
          ...(this.#options.gatewayState ? [`Gateway: ${this.#options.gatewayState()}`] : []),
        ].join("\n");
        break;
      }
      case "whoami":
        text = [
          `Platform: ${source.platform}`,
          `User: ${source.userId ?? source.chatId}`,
          `Chat: ${source.chatType} ${source.chatId}`,
          `Tier: ${rights.tier}`,
        ].join("\n");
        break;
      case "queue":
        throw new Error("unreachable: /queue is routed as a message");
    }
    await this.#answer(entry, text, "command", { exchange: true });
  }

  #cancelLane(lane: Lane | undefined, reason: StopReason): void {
    if (!lane) return;
    for (const dropped of lane.queue.splice(0)) {
      void this.#finishQuietly(dropped, "done", `cancelled (${reason})`);
    }
    lane.running?.controller.abort(reason);
  }

  /** A queued message a newer one replaced: kept in the transcript, never answered. */
  async #supersede(entry: InboundEntry): Promise<void> {
    try {
      const session = await this.store.supersede(entry, { expired: this.#expired(entry) });
      this.#recent.add(entry.sessionKey, session.id, [askedBy(entry.event.text, entry.event)]);
      this.#settled(entry, "superseded by a newer message");
    } catch (error) {
      this.#options.log.error("cannot record a superseded message; it stays journaled", {
        entry: entry.id,
        error,
      });
    }
  }

  /**
   * Answers `entry` without the agent (a command, a refusal, a notice): the
   * parts into the outbox and the entry finished in one unit (with
   * `exchange`, the command and its answer kept for people); a preview a
   * crashed turn showed is replaced by the answer.
   */
  async #answer(
    entry: InboundEntry,
    text: string,
    outcome: string,
    options: { exchange?: boolean; state?: "done" | "failed" } = {},
  ): Promise<void> {
    const adapter = this.#options.adapter(entry.event.source.platform);
    const parts = adapter
      ? await new Previews({
        adapter,
        to: entry.event.source,
        replyTo: entry.event.messageId,
        key: `inbound:${entry.id}`,
        store: this.store,
      }).finalParts(text)
      : [];
    await this.store.answer(entry, {
      parts,
      deadline: this.deliveryDeadline(),
      state: options.state ?? "done",
      outcome,
      exchange: options.exchange ? { expired: this.#expired(entry) } : undefined,
    });
    if (parts.length > 0) this.#delivering(entry, outcome);
    else this.#settled(entry, outcome);
  }

  async #finish(entry: InboundEntry, state: "done" | "failed", outcome: string): Promise<void> {
    await this.store.finishInbound(entry.id, state, outcome);
    this.#settled(entry, outcome);
  }

  /** Finishes `entry`; a journal that cannot be written (closed, disk full) leaves it for replay. */
  async #finishQuietly(
    entry: InboundEntry,
    state: "done" | "failed",
    outcome: string,
  ): Promise<void> {
    try {
      await this.#finish(entry, state, outcome);
    } catch (again) {
      this.#options.log.error("cannot record how a message ended; it stays journaled", {
        entry: entry.id,
        outcome,
        error: again,
      });
    }
  }

  #settled(entry: InboundEntry, outcome: string): void {
    this.#settledEvent(entry.event, outcome);
  }

  #settledEvent(event: MessageEvent, outcome: string): void {
    try {
      this.#options.adapter(event.source.platform)?.settled?.(event, outcome);
    } catch (error) {
      this.#options.log.warn("adapter failed to settle a message", { error });
    }
  }
}

/** How long an authorization may take by default. */
const AUTHORIZE_TIMEOUT_MS = 30_000;

/** `work`, or a rejection with `message` once `ms` passed first. */
function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
