/**
 * Retention (the reference gateway's `sessions.auto_prune`): finished
 * journal entries and reply parts older than `gateway.journal_retention_days`
 * go on every run; ended sessions older than `sessions.retention_days` go
 * with their transcripts at most once a day (the last run is kept in
 * state.db, so a restart does not run it again), optionally followed by a
 * VACUUM. The gateway runs it from its watcher; `hermes sessions prune` by
 * hand.
 *
 * @module
 */

import type { Config } from "../config/schema.ts";
import type {
  ExpiredSessions,
  FinishedPruneCounts,
  SessionPruneCounts,
  StateStore,
} from "../storage/state_store.ts";
import type { Logger } from "../util/log.ts";

/** The name under which the session prune's last run is kept. */
export const SESSION_PRUNE_TASK = "session_prune";
const DAY_MS = 86_400_000;

/** What a maintenance run removed. */
export interface MaintenanceReport {
  readonly finished: FinishedPruneCounts;
  /** Undefined: the session prune was not due (it ran less than a day ago, or is off). */
  readonly sessions?: SessionPruneCounts;
  readonly vacuumed: boolean;
  /** Why `vacuum_after_prune` was not done this time (a gateway was running beside the CLI). */
  readonly vacuumSkipped?: string;
}

/** What a maintenance run would remove (`hermes sessions prune --dry-run`). */
export interface MaintenancePlan {
  /** Sessions ended before this time go. */
  readonly sessionsBefore: string;
  /** Finished journal entries and parts written before this time go. */
  readonly finishedBefore: string;
  readonly sessions: ExpiredSessions;
  readonly finished: FinishedPruneCounts;
}

/** What {@linkcode runMaintenance} needs. */
export interface MaintenanceOptions {
  readonly store: StateStore;
  readonly config: Config;
  readonly now?: () => Date;
  /** Prune the sessions whether or not they are due (and even with `auto_prune` off). */
  readonly force?: boolean;
  /** Stops the run between two units of work (the gateway is stopping). */
  readonly signal?: AbortSignal;
  /**
   * Set when the database must not be compacted now, saying why: VACUUM
   * holds every write of another process (a running gateway) while it runs.
   */
  readonly noVacuumBecause?: string;
}

/**
 * Runs retention once; errors reject (the caller logs them, and the next
 * run tries again: a failed session prune is not recorded as run).
 *
 * @example
 * ```ts
 * import type { Config } from "../config/schema.ts";
 * import type { StateStore } from "../storage/state_store.ts";
 * declare const store: StateStore, config: Config;
 * const report = await runMaintenance({ store, config });
 * report.finished.journal; // entries removed
 * ```
 */
export async function runMaintenance(options: MaintenanceOptions): Promise<MaintenanceReport> {
  const { store, config } = options;
  const now = (options.now ?? (() => new Date()))();
  const { signal } = options;
  const finished = await store.prune(finishedCutoff(config, now), { signal });
  if (signal?.aborted) return { finished, vacuumed: false };
  if (!options.force && !await sessionPruneDue(store, config, now)) {
    return { finished, vacuumed: false };
  }
  const sessions = await store.pruneSessions(sessionCutoff(config, now), { signal });
  if (signal?.aborted) return { finished, sessions, vacuumed: false }; // not done: the next run goes on
  await store.recordMaintenance(SESSION_PRUNE_TASK, now);
  const wanted = config.sessions.vacuum_after_prune && sessions.messages + sessions.sessions > 0;
  const skipped = wanted ? options.noVacuumBecause : undefined;
  if (wanted && !skipped) await store.vacuum();
  return {
    finished,
    sessions,
    vacuumed: wanted && !skipped,
    ...(skipped ? { vacuumSkipped: skipped } : {}),
  };
}

/**
 * The gateway's run: {@linkcode runMaintenance}, with what it removed logged
 * and any error logged instead of thrown (the gateway goes on; a session
 * prune that failed is not recorded, so the next run tries again).
 *
 * @example
 * ```ts
 * import type { Config } from "../config/schema.ts";
 * import type { StateStore } from "../storage/state_store.ts";
 * import type { Logger } from "../util/log.ts";
 * declare const store: StateStore, config: Config, log: Logger;
 * const stopping = new AbortController();
 * await maintainInBackground({ store, config, log, signal: stopping.signal });
 * ```
 */
export async function maintainInBackground(
  options: MaintenanceOptions & { readonly log: Logger },
): Promise<MaintenanceReport | undefined> {
  const { log } = options;
  try {
    const report = await runMaintenance(options);
    const { finished, sessions } = report;
    if (finished.journal + finished.ledger + finished.outbox > 0) {
      log.info("finished journal entries and reply parts pruned", { ...finished });
    }
    if (sessions && sessions.sessions + sessions.messages > 0) {
      log.info("ended sessions pruned", { ...sessions, vacuumed: report.vacuumed });
    }
    return report;
  } catch (error) {
    log.warn("pruning failed; it is tried again on the next run", { error });
    return undefined;
  }
}

/**
 * What {@linkcode runMaintenance} with `force` would remove now.
 *
 * @example
 * ```ts
 * import type { Config } from "../config/schema.ts";
 * import type { StateStore } from "../storage/state_store.ts";
 * declare const store: StateStore, config: Config;
 * const plan = await planMaintenance(store, config);
 * plan.sessions.sessions.length; // ended sessions past the retention
 * ```
 */
export async function planMaintenance(
  store: StateStore,
  config: Config,
  at: Date = new Date(),
): Promise<MaintenancePlan> {
  const sessionsBefore = sessionCutoff(config, at);
  const finishedBefore = finishedCutoff(config, at);
  return {
    sessionsBefore: sessionsBefore.toISOString(),
    finishedBefore: finishedBefore.toISOString(),
    sessions: await store.expiredSessions(sessionsBefore),
    finished: await store.prunable(finishedBefore),
  };
}

async function sessionPruneDue(store: StateStore, config: Config, now: Date): Promise<boolean> {
  if (!config.sessions.auto_prune) return false;
  const last = await store.lastMaintenance(SESSION_PRUNE_TASK);
  // A clock set back (last in the future) must not stop pruning for good.
  const age = last === undefined ? Infinity : now.getTime() - Date.parse(last);
  return !(age >= 0 && age < DAY_MS);
}

function sessionCutoff(config: Config, now: Date): Date {
  return new Date(now.getTime() - config.sessions.retention_days * DAY_MS);
}

function finishedCutoff(config: Config, now: Date): Date {
  return new Date(now.getTime() - config.gateway.journal_retention_days * DAY_MS);
}
