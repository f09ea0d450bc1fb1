/**
 * `hermes sessions list|show|search|prune`: conversations and their
 * transcripts in state.db.
 *
 * @module
 */

import type { CliCommand } from "./command.ts";
import { positiveInteger } from "./value_parsers.ts";
import { HermesError } from "../lib/errors.ts";
import type { SearchHit, SessionRecord, StateStore } from "../lib/storage/state_store.ts";
import { type CommandContext, openContext } from "./context.ts";
import type { CliIo } from "./io.ts";
import type { MaintenancePlan, MaintenanceReport } from "../lib/gateway/maintenance.ts";

/** Adds the `sessions` command group to `program`. */
export function registerSessionCommands(program: CliCommand, io: CliIo): void {
  const sessions = program.command("sessions").description(
    "List, show and search conversations",
  );

  sessions.command("list")
    .description("List open sessions, most recently active first")
    .option("--all", "include ended sessions")
    .option("--limit <n>", "how many (default 100)", positiveInteger)
    .option("--json", "print a JSON array")
    .action(async (options, command) => {
      const rows = await withState(await openContext(io, command), (store) =>
        store.listSessions({ limit: options.limit, includeEnded: options.all === true })) ?? [];
      if (options.json) {
        return void io.out(`${JSON.stringify(rows, null, 2)}\n`);
      }
      if (rows.length === 0) {
        return void io.out("No sessions yet\n");
      }
      for (const row of rows) {
        io.out(`${describeSession(row)}\n`);
      }
    });

  sessions.command("show")
    .description("Show a session's messages (the open one, else the latest)")
    .argument("<key>", "session key, as `sessions list` prints it")
    .option("--limit <n>", "how many messages (default 50)", positiveInteger)
    .option("--json", "print one JSON object")
    .action(async (key, options, command) => {
      const found = await withState(await openContext(io, command), async (store) => {
        const session = (await store.sessionsOfKey(key))[0];
        if (!session) return undefined;
        return {
          session,
          messages: await store.history(session.id, { limit: options.limit, audience: "people" }),
        };
      });
      if (!found) {
        throw new HermesError("session_not_found", `Cannot show session "${key}": no such key`, {
          hints: ["list them with: hermes sessions list --all"],
        });
      }
      if (options.json) return void io.out(`${JSON.stringify(found, null, 2)}\n`);
      io.out(`${describeSession(found.session)}\n`);
      for (const m of found.messages) io.out(`  ${m.created_at}  ${m.role}: ${m.text}\n`);
    });

  sessions.command("search")
    .description("Search every transcript; words, and Chinese, Japanese or Korean of any length")
    .argument("<query...>", "terms that must all occur")
    .option("--platform <name>", "only messages from this platform")
    .option("--limit <n>", "how many results (default 20)", positiveInteger)
    .option("--json", "print a JSON array")
    .action(async (terms, options, command) => {
      const { hits, lag } = await withState(await openContext(io, command), async (store) => ({
        hits: await store.search(terms.join(" "), {
          platform: options.platform,
          limit: options.limit,
        }),
        lag: await store.searchLag(),
      })) ?? { hits: [], lag: { messages: 0 } };
      if (lag.messages > 0) {
        // The gateway indexes within about a second; a stopped one does so when it starts.
        io.err(
          `Note: the ${lag.messages} newest message(s) (since ${lag.since}) are not indexed yet; search again in a moment\n`,
        );
      }
      if (options.json) {
        return void io.out(`${JSON.stringify(hits, null, 2)}\n`);
      }
      if (hits.length === 0) {
        return void io.out("No matches\n");
      }
      for (const hit of hits) io.out(`${describeHit(hit)}\n`);
    });

  sessions.command("prune")
    .description(
      "Delete ended sessions past sessions.retention_days, and finished journal rows past gateway.journal_retention_days",
    )
    .option("--dry-run", "only list what would be removed")
    .option("--json", "print one JSON object")
    .action(async (options, command) => {
      const context = await openContext(io, command);
      const { config } = context.loaded;
      const result = await withState(context, async (store) => {
        const [{ planMaintenance, runMaintenance }, { findRunningGateway }] = await Promise.all([
          import("../lib/gateway/maintenance.ts"),
          import("../lib/process/running_gateway.ts"),
        ]);
        if (options.dryRun) return { plan: await planMaintenance(store, config) };
        const { running } = findRunningGateway(context.paths);
        // Forced: by hand it runs whether the daily prune is due or not, and with auto_prune off.
        return {
          report: await runMaintenance({
            store,
            config,
            force: true,
            ...(running
              ? {
                noVacuumBecause:
                  `the gateway (PID ${running.pid}) is running and VACUUM would hold its writes; stop it and run this again, or let it compact after its own daily prune`,
              }
              : {}),
          }),
        };
      }, { write: !options.dryRun }) as
        | { plan?: MaintenancePlan; report?: MaintenanceReport }
        | undefined;
      if (options.json) {
        return void io.out(`${JSON.stringify({ dryRun: options.dryRun === true, ...result })}\n`);
      }
      const { plan, report } = result ?? {};
      if (plan) {
        io.out(
          `Would remove ${plan.sessions.sessions.length} session(s) ended before ${plan.sessionsBefore} (${plan.sessions.messages} messages)\n`,
        );
        for (const session of plan.sessions.sessions) io.out(`  ${describeSession(session)}\n`);
        io.out(`${describeFinished("Would remove", plan.finished, plan.finishedBefore)}\n`);
        return;
      }
      if (!report) return void io.out("Nothing to prune: there is no state.db yet\n");
      const sessions = report.sessions ?? { sessions: 0, messages: 0 };
      io.out(`Removed ${sessions.sessions} session(s) (${sessions.messages} messages)\n`);
      io.out(`${describeFinished("Removed", report.finished)}\n`);
      if (report.vacuumed) io.out("Compacted state.db\n");
      if (report.vacuumSkipped) io.out(`Not compacted: ${report.vacuumSkipped}\n`);
    });
}

function describeFinished(
  verb: string,
  counts: { journal: number; ledger: number; outbox: number },
  before?: string,
): string {
  const when = before ? ` written before ${before}` : "";
  return `${verb} ${counts.journal} finished journal entries, ${counts.outbox} reply parts and ${counts.ledger} ledger rows${when}`;
}

/**
 * Runs `read` against the state, read-only (loaded lazily, so other commands
 * start fast): state.db, or the PostgreSQL database of `storage.backend:
 * postgres`. Undefined when there is no state.db yet (nothing is created).
 */
async function withState<T>(
  context: CommandContext,
  read: (store: StateStore) => Promise<T>,
  options: { write?: boolean } = {},
): Promise<T | undefined> {
  const { paths, loaded } = context;
  if (loaded.config.storage.backend === "sqlite") {
    try {
      Deno.statSync(paths.stateDb);
    } catch {
      return undefined;
    }
  }
  const { openStateStore } = await import("../lib/storage/open_state_store.ts");
  // A running gateway (perhaps an older hermes) keeps its database as it is: reads are
  // read-only, and a prune (which writes beside it: WAL and the busy timeout let both go on)
  // never migrates, so either works only on the schema this hermes knows.
  const store = await openStateStore(loaded.config.storage, paths.stateDb, {
    readOnly: !options.write,
    migrate: false,
  });
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

function describeSession(row: SessionRecord): string {
  const ended = row.ended_at ? `  ended ${row.ended_at} (${row.end_reason})` : "";
  return `${row.key}  ${row.message_count} messages  last active ${row.updated_at}${ended}`;
}

function describeHit(hit: SearchHit): string {
  return `${hit.session_key}  ${hit.created_at}  ${hit.role}: ${hit.snippet.replaceAll("\n", " ")}`;
}
