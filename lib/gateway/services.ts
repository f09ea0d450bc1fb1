/**
 * What a running gateway serves: state.db, the agent, the enabled platforms
 * and the pipeline between them, plus the session-reset watcher. Built after
 * the home is claimed; stopped after the drain.
 *
 * @module
 */

import type { Agent } from "../agent/agent.ts";
import { createAgent } from "../agent/select.ts";
import type { HermesPaths } from "../config/home.ts";
import type { Config } from "../config/schema.ts";
import type { ChatHistoryItem, PlatformAdapter, PlatformDefinition } from "../platforms/adapter.ts";
import "../platforms/builtin.ts";
import { LinkHealthTracker } from "../platforms/health.ts";
import { PlatformLinks } from "../platforms/links.ts";
import {
  enabledPlatforms,
  idsFoldCase,
  loadPlugins,
  registeredPlatforms,
} from "../platforms/registry.ts";
import { sessionKey } from "../sessions/key.ts";
import type { SessionSource } from "../platforms/event.ts";
import { openStateStore } from "../storage/open_state_store.ts";
import type { OutboxCounts, StateStore, StoreLink } from "../storage/state_store.ts";
import type { Logger } from "../util/log.ts";
import { raceTimeout } from "../util/race_timeout.ts";
import {
  acquireCredentialLock,
  describeHolder,
  releaseCredentialLock,
} from "../process/credential_lock.ts";
import { checkOpenPolicies, platformAccess } from "../auth/access_settings.ts";
import { commandMenus } from "../auth/slash_access.ts";
import { approvalNotifier } from "../auth/approval_notices.ts";
import { createAuthorizer } from "../auth/authorizer.ts";
import { openPairing } from "../auth/pairing_backend.ts";
import { IdRedactor } from "../auth/redact.ts";
import { SLASH_COMMANDS } from "../auth/slash_commands.ts";
import type { ControlMethod } from "./control_server.ts";
import { HermesError } from "../errors.ts";
import { sendMessage } from "./operator_send.ts";
import { Outbox } from "./outbox.ts";
import { MediaCache } from "../media/cache.ts";
import { downloadMedia } from "../media/download.ts";
import { RateBudgets } from "./rate_budget.ts";
import { Pipeline } from "./pipeline.ts";
import { maintainInBackground } from "./maintenance.ts";
import type { BotLeases } from "./bot_leases.ts";
import type { PgStateStore } from "../storage/postgres/state_store.ts";
import { checkPostgresUrl } from "../storage/database_url.ts";

/** The state store for `gateway status`: its backend and its link to the database server. */
export interface StorageStatus extends StoreLink {
  readonly backend: "sqlite" | "postgres";
}

/** What the gateway asks of its services. */
export interface GatewayServices {
  /** Opens state, connects platforms, replays unfinished messages. */
  start(): Promise<void>;
  /** A drain began: start no new turns. */
  hold(): void;
  /** The drain ran out of time: mark running turns for resume. */
  interruptRunning(): Promise<void>;
  /** Disconnects platforms and closes state. */
  stop(): Promise<void>;
  /** Per-platform link health, for status. */
  platforms(): Record<string, Record<string, unknown>>;
  /** Reply parts by state, for status (undefined before the services started). */
  outbox(): OutboxCounts | undefined;
  /** The state store's backend and, on a server, its link (undefined before the services started). */
  storage(): StorageStatus | undefined;
  /** Methods the services add to the control socket. */
  readonly methods: Readonly<Record<string, ControlMethod>>;
}

/** What {@linkcode createServices} needs. */
export interface ServicesOptions {
  readonly config: Config;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly paths: HermesPaths;
  readonly log: Logger;
  /** Registers in-flight work with the gateway. */
  readonly track: <T>(label: string, work: Promise<T>) => Promise<T>;
  /** The gateway's live status. */
  readonly status: () => Record<string, unknown>;
  /** Where machine-wide bot credential locks live. */
  readonly lockDir: string;
}

const WATCH_INTERVAL_MS = 60_000;
/** How long a stop waits for the pool database to take its leases back. */
const RELEASE_TIMEOUT_MS = 5_000;
/** Most messages a web client is shown of a chat. */
const CLIENT_HISTORY_LIMIT = 200;

/**
 * Checks everything about platforms and the agent that can be checked
 * before the home is claimed: plugins load, enabled platforms accept their
 * settings (open access only with an allow-all flag), the agent can be
 * built. Throws ConfigError (exit 78).
 *
 * @example
 * ```ts
 * import type { Config } from "../config/schema.ts";
 * declare const config: Config;
 * const platforms = await preparePlatforms(config, Deno.env.toObject(), "/srv/hermes");
 * ```
 */
export async function preparePlatforms(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
  home: string,
): Promise<PlatformDefinition[]> {
  await loadPlugins(config.plugins, home);
  const platforms = enabledPlatforms(config, env);
  for (const platform of platforms) {
    platform.check?.(config, env);
    checkOpenPolicies(
      platformAccess(config, env, platform.name, { idsFoldCase: idsFoldCase(platform.name) }),
    );
  }
  createAgent(config);
  return platforms;
}

/**
 * Builds the services of one gateway run.
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * import type { Config } from "../config/schema.ts";
 * import { credentialLockDir } from "../process/credential_lock.ts";
 * import type { Logger } from "../util/log.ts";
 * import type { Gateway } from "./gateway.ts";
 * declare const gateway: Gateway, config: Config, log: Logger;
 * const env = Deno.env.toObject();
 * const services = createServices({
 *   config,
 *   env,
 *   paths: hermesPaths("/srv/hermes"),
 *   log,
 *   track: (label, work) => gateway.track(label, work),
 *   status: () => gateway.snapshot(),
 *   lockDir: credentialLockDir(env),
 * });
 * await gateway.start(services);
 * ```
 */
export function createServices(options: ServicesOptions): GatewayServices {
  const { config, env, paths, log } = options;
  let state: StateStore | undefined;
  let pipeline: Pipeline | undefined;
  let outbox: Outbox | undefined;
  let links: PlatformLinks | undefined;
  let agent: Agent | undefined;
  /** On PostgreSQL: the leases of the bots this gateway of the pool serves. */
  let bots: (BotLeases & { close(): Promise<void> }) | undefined;
  let watcher: ReturnType<typeof setInterval> | undefined;
  /** The retention run under way (one at a time), and how a stop ends it between two batches. */
  let maintaining: Promise<void> | undefined;
  const stopMaintenance = new AbortController();
  const adapters = new Map<string, PlatformAdapter>();
  /** Enabled platforms, once every adapter is created (`send` waits for that). */
  let enabled: string[] | undefined;
  const pairingBackend = openPairing(config.storage, paths, { log, idsFoldCase });
  const pairing = pairingBackend.store;
  const media = new MediaCache(paths.mediaDir);
  const notify = approvalNotifier({
    store: pairing,
    connectedAdapter: (platform) =>
      links?.isConnected(platform) ? adapters.get(platform) : undefined,
    log,
  });
  // Tracked, so that a stop waits for a notice being sent to be marked as told.
  const notifyTracked = () => options.track("approval notices", notify());
  const notifyInBackground = () =>
    void notifyTracked().catch((error) => log.warn("cannot read approved users", { error }));

  return {
    async start() {
      if (config.storage.backend === "postgres") {
        const { openBotLeases } = await import("./bot_leases.ts");
        bots = await openBotLeases(checkPostgresUrl(config.storage.url), {
          ttlMs: config.gateway.lease_ttl_seconds * 1000,
          maxBots: config.gateway.max_bots,
          home: paths.home,
          log: log.child({ component: "leases" }),
          // Disconnected, its turns ended, and only then connected (and claimed) again.
          onLost: (platform, reason) =>
            void links?.restart(platform, `bot lease lost: ${reason}`, async () => {
              if (!pipeline) return;
              const grace = (config.agent.kill_grace_seconds + 2) * 1000;
              await raceTimeout(pipeline.relinquish(platform), grace);
            }),
        });
      }
      state = await openStateStore(config.storage, paths.stateDb, { fence: bots?.fence });
      agent = createAgent(config, env);
      if (agent.provider === "echo") {
        log.info("no model configured: the echo agent replies with each message it receives", {
          hint: "set HERMES_MODEL (and OPENAI_BASE_URL, OPENAI_API_KEY) or agent.* in config.yaml",
        });
      } else {
        log.info("agent ready", { agent: agent.description });
      }
      const definitions = enabledPlatforms(config, env);
      const auth = createAuthorizer({ config, env, store: pairing, log, idsFoldCase });
      const redactor = config.agent.redact_pii
        ? await IdRedactor.load(paths.redactionKey)
        : undefined;
      const budgets = new RateBudgets();
      outbox = new Outbox({
        store: state,
        budgets,
        adapter: (platform) => adapters.get(platform),
        isConnected: (platform) => links?.isConnected(platform) ?? false,
        log: log.child({ component: "outbox" }),
        onPartDone: (inboundId) => void pipeline?.partDone(inboundId),
        track: options.track,
      });
      pipeline = new Pipeline({
        store: state,
        outbox,
        budgets,
        mediaFolders: [paths.mediaDir, ...config.agent.media_dirs],
        keepFile: (bytes, name) => media.store(bytes, { name }),
        config,
        agent,
        adapter: (platform) => adapters.get(platform),
        log,
        authorize: auth.authorize,
        commandAccess: auth.commandRights,
        agentView: redactor && ((source) => redactor.source(source)),
        track: options.track,
        gatewayState: () => {
          const s = options.status();
          return `${s.state}, up ${s.uptime_s} s, PID ${s.pid}`;
        },
      });
      const store = pipeline;
      const kept = state;
      // In a pool, what other gateways left is read when a bot's lease becomes ours (adopt).
      if (!bots) await store.load();
      for (const definition of definitions) {
        const stateDir = `${paths.home}/platforms/${definition.name}`;
        await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
        adapters.set(
          definition.name,
          await definition.create({
            env,
            settings: settingsOf(config, definition.name),
            emit: (event) => store.accept(event),
            log: log.child({ platform: definition.name }),
            now: () => new Date(),
            stateDir,
            // In a pool, cursors and tokens are the database's: the next owner goes on from them.
            state: bots ? (kept as PgStateStore).platformState(definition.name) : undefined,
            // A link that comes back by itself (the adapter reconnected) gets its waiting parts.
            health: new LinkHealthTracker(undefined, (state) => {
              if (state === "subscribed") outbox?.kick();
            }),
            gatewayStatus: options.status,
            history: (source) => chatHistoryOf(kept, source, config),
            commands: SLASH_COMMANDS,
            commandMenus: commandMenus(
              platformAccess(config, env, definition.name, {
                idsFoldCase: idsFoldCase(definition.name),
              }),
            ),
            fetch: (input, init) => fetch(input, init),
            media: {
              store: (bytes, meta) => media.store(bytes, meta),
              download: (url, more) => downloadMedia(url, { cache: media, ...more }),
              open: (name) => media.open(name),
            },
            credentialLock: async (scope, identity) => {
              const claim = await acquireCredentialLock(options.lockDir, scope, identity, {
                home: paths.home,
                metadata: { platform: definition.name },
              });
              if (!claim.ok) throw new Error(describeHolder(definition.name, claim.holder));
              try {
                await bots?.claim(definition.name, scope, identity);
              } catch (error) {
                // On standby it holds nothing: another gateway of this host may take the bot.
                await releaseCredentialLock(options.lockDir, scope, identity);
                throw error;
              }
            },
          }),
        );
      }
      if (adapters.size === 0) log.warn("no platform is enabled; nothing will reach the agent");
      enabled = definitions.map((d) => d.name);
      let initial = true;
      links = new PlatformLinks([...adapters.values()], {
        log,
        connectTimeoutMs: config.gateway.connect_timeout * 1000,
        // A bot this gateway cannot connect may connect from another of the pool.
        onConnectFailed: (name) => void bots?.release(name),
        onConnected: (name) => {
          outbox?.kick(); // parts waiting for this link go now
          // Only a bot under our lease is adopted: another gateway may be answering the rest.
          if (bots?.holds(name)) {
            void store.adopt(name).catch((error) => {
              // Nothing it left may be forgotten: connect again, and read again.
              log.warn("cannot read the unfinished messages of the pool", {
                platform: name,
                error,
              });
              void links?.restart(name, "the unfinished messages could not be read");
            });
          } else if (!initial) store.replay((platform) => platform === name);
          if (!initial) notifyInBackground();
        },
      });
      await links.connectAll();
      initial = false;
      const connected = links;
      if (!bots) store.replay((platform) => connected.isConnected(platform));
      notifyInBackground();
      // In the background: a first prune of a large state.db takes a while, in small batches
      // that let replies in between; it never fails the gateway (the next run tries again).
      const maintain = async () => {
        await maintainInBackground({ store: kept, config, log, signal: stopMaintenance.signal });
      };
      const sweep = async () => {
        try {
          // In a pool, approvals may come from any host's CLI: tell those users from here.
          if (bots) notifyInBackground();
          const ended = await store.sweepSessions();
          if (ended > 0) log.info("sessions reset by policy", { count: ended });
          maintaining ??= maintain().finally(() => maintaining = undefined);
          const gone = await media.cleanup();
          if (gone > 0) log.info("old media removed", { count: gone });
        } catch (error) {
          log.warn("session watcher failed", { error });
        }
      };
      await sweep();
      watcher = setInterval(() => void sweep(), WATCH_INTERVAL_MS);
    },
    hold() {
      pipeline?.hold();
    },
    async interruptRunning() {
      const count = await pipeline?.interruptRunning() ?? 0;
      if (count > 0) {
        log.warn("turns cut off by the drain will resume on their next message", { count });
      }
    },
    async stop() {
      clearInterval(watcher);
      stopMaintenance.abort();
      await maintaining;
      // Tries in flight finish (no part is left half sent); the rest stays for the next gateway.
      await outbox?.stop();
      // Turns the drain gave up on end now (a command agent's program is killed,
      // SIGKILL after its grace); their messages stay journaled for the next gateway.
      if (pipeline) {
        await raceTimeout(pipeline.abandonRunning(), (config.agent.kill_grace_seconds + 2) * 1000);
      }
      await links?.disconnectAll("gateway stopping");
      // A planned stop hands the bots to the pool now, not after the TTL.
      // A database out of reach must not hold the stop: the leases run out by themselves.
      if (bots) {
        const leases = bots;
        await raceTimeout(leases.releaseAll().then(() => leases.close()), RELEASE_TIMEOUT_MS);
      }
      await raceTimeout(pairingBackend.close(), RELEASE_TIMEOUT_MS);
      // Turns the drain gave up on may still touch state.db until the process exits.
      if ((pipeline?.runningTurns ?? 0) === 0) {
        await state?.close();
        state = undefined;
      }
    },
    platforms() {
      const out: Record<string, Record<string, unknown>> = {};
      for (const [name, link] of Object.entries(links?.snapshot() ?? {})) {
        const lease = bots?.details(name);
        out[name] = lease ? { ...link, details: { ...link.details, ...lease } } : { ...link };
      }
      return out;
    },
    outbox() {
      return outbox?.counts;
    },
    storage() {
      if (!state) return undefined;
      return { backend: config.storage.backend, ...(state.link ?? { up: true }) };
    },
    methods: {
      /** `hermes pair approve` asks the gateway to tell the approved user now. */
      pairing_notify: async () => ({ delivered: await notifyTracked() }),
      /** `hermes send`: an operator's message into the outbox, and what became of it. */
      send: (params) => {
        if (!state || !outbox || !pipeline || !enabled) {
          throw new HermesError(
            "not_ready",
            "The gateway is starting or stopping: try again shortly",
          );
        }
        const queue = pipeline;
        return sendMessage(params, {
          store: state,
          outbox,
          adapter: (platform) => adapters.get(platform),
          isConnected: (platform) => links?.isConnected(platform) ?? false,
          enabled,
          registered: registeredPlatforms().map((p) => p.name),
          deadline: () => queue.deliveryDeadline(),
          log: log.child({ component: "send" }),
        });
      },
    },
  };
}

/**
 * What a web client shows of a chat: a DM's open session, a group's shared
 * history (every member's), commands and notes included.
 */
async function chatHistoryOf(
  store: StateStore,
  source: SessionSource,
  config: Config,
): Promise<ChatHistoryItem[]> {
  if (source.chatType !== "dm") {
    return (await store.chatHistory(source, CLIENT_HISTORY_LIMIT)).map((m) => ({
      role: m.role,
      text: m.text,
      at: m.created_at,
      sender: m.role === "user" ? m.sender : null,
      to: m.role === "user" ? null : m.session_user,
      ...(m.attachments.length ? { attachments: m.attachments } : {}),
    }));
  }
  const open = await store.findOpenSession(
    sessionKey(source, { groupSessionsPerUser: config.sessions.group_sessions_per_user }),
  );
  const messages = open
    ? await store.history(open.id, { limit: CLIENT_HISTORY_LIMIT, audience: "people" })
    : [];
  return messages.map((m) => ({
    role: m.role,
    text: m.text,
    at: m.created_at,
    sender: m.role === "user" ? m.sender : null,
    to: null,
    ...(m.attachments.length ? { attachments: m.attachments } : {}),
  }));
}

/** A platform's settings: a built-in's own section (`local:`), else `platforms.<name>`. */
function settingsOf(config: Config, platform: string): Readonly<Record<string, unknown>> {
  const section = platform === "platforms" ? undefined : config[platform];
  if (typeof section === "object" && section !== null) return section as Record<string, unknown>;
  return config.platforms[platform] ?? {};
}
