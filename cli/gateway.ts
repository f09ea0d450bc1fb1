/**
 * `hermes gateway run|stop|restart|status|install|uninstall`: the gateway
 * process and the service that supervises it.
 *
 * @module
 */

import type { LinkHealth } from "../lib/platforms/health.ts";
import { describeLooseModes } from "../lib/config/home_modes.ts";
import type { CliCommand } from "./command.ts";
import { positiveSeconds } from "./value_parsers.ts";
import { HermesError } from "../lib/errors.ts";
import type { GatewayStatusReport } from "../lib/gateway/status_report.ts";
import { ExitCode } from "../lib/process/exit_codes.ts";
import type { RunningGateway } from "../lib/process/running_gateway.ts";
import { type HomeContext, loadHomeConfig, openHome } from "./context.ts";
import type { CliIo } from "./io.ts";
import { registerServiceCommands } from "./gateway_service.ts";

/** Exit code of `gateway status` when no gateway runs (as LSB init scripts do). */
export const NOT_RUNNING_EXIT = 3;
/** Margin added to the drain budget when waiting for a gateway to stop. */
const STOP_MARGIN_S = 15;
/** How long `restart` waits for a supervisor to start the new gateway. */
const REVIVE_WAIT_MS = 30_000;

/** Adds the `gateway` command group to `program`. */
export function registerGatewayCommands(program: CliCommand, io: CliIo): void {
  const gateway = program.command("gateway").description(
    "Run, stop, restart and inspect the gateway process",
  );

  gateway.command("run", { isDefault: true })
    .description("Run the gateway in the foreground until stopped")
    .option("--replace", "take over from a gateway already running in this home")
    .action(async (options, command) => {
      const home = await openHome(io, command);
      io.exitCode = await runInForeground(io, command, home, options.replace === true);
    });

  gateway.command("stop")
    .description("Ask the running gateway to drain and stop; wait for it")
    .option(
      "--timeout <seconds>",
      "how long to wait (default: drain timeout + 15 s)",
      positiveSeconds,
    )
    .option("--force", "kill the gateway if it has not stopped when the wait ends")
    .action(async (options, command) => {
      const [{ paths, log }, { findRunningGateway }, { gatherStatus }, { stopGateway }] =
        await Promise.all([
          openHome(io, command),
          import("../lib/process/running_gateway.ts"),
          import("../lib/gateway/status_report.ts"),
          import("../lib/process/handoff.ts"),
        ]);
      const { running } = findRunningGateway(paths, { cleanupStale: true });
      if (!running) {
        io.out(`No gateway is running in ${paths.home}\n`);
        return;
      }
      const report = await gatherStatus(paths);
      refuseWhenSupervised(report, running.pid);
      const timeoutS = options.timeout ?? (report.drain_timeout_s ?? 180) + STOP_MARGIN_S;
      log.info("stopping the gateway", { pid: running.pid, wait_s: timeoutS });
      const outcome = await stopGateway(paths, running, {
        timeoutMs: timeoutS * 1000,
        force: options.force === true,
        lockDir: await lockDirOf(io),
      });
      if (!outcome.stopped) {
        throw new HermesError(
          "stop_timeout",
          `Gateway (PID ${running.pid}) is still running after ${timeoutS} s; it may still be draining`,
          {
            hints: [
              "wait and check:   hermes gateway status",
              "kill it:          hermes gateway stop --force",
            ],
          },
        );
      }
      io.out(`Gateway ${outcome.killed ? "killed" : "stopped"} (PID ${running.pid})\n`);
    });

  gateway.command("restart")
    .description(
      "Restart gracefully: drain, then the supervisor starts it again (or this command runs it)",
    )
    .action(async (_options, command) => {
      const [home, { findRunningGateway }, { gatherStatus }] = await Promise.all([
        openHome(io, command),
        import("../lib/process/running_gateway.ts"),
        import("../lib/gateway/status_report.ts"),
      ]);
      const { running } = findRunningGateway(home.paths, { cleanupStale: true });
      const report = running ? await gatherStatus(home.paths) : undefined;
      if (!running || !report?.supervisor) {
        // Nobody would start it again: this process takes over and becomes the gateway.
        if (!running) home.log.info("no gateway is running; starting one");
        io.exitCode = await runInForeground(io, command, home, true);
        return;
      }
      await restartSupervised(io, home, running, report);
    });

  gateway.command("status")
    .description("Show whether the gateway runs, its state and platforms; exit 0 running, 3 not")
    .option("--json", "print one JSON object")
    .option("--all", "every gateway of the pool (storage.backend postgres): its bots and leases")
    .action(async (options, command) => {
      if (options.all) {
        const home = await openHome(io, command);
        const { config } = await loadHomeConfig(io, command, home);
        const { gatherPoolStatus, describePool } = await import("../lib/gateway/pool_status.ts");
        const pool = await gatherPoolStatus(config.storage, config.gateway.lease_ttl_seconds);
        io.out(options.json ? `${JSON.stringify(pool, null, 2)}\n` : describePool(pool));
        return;
      }
      const [{ paths }, { gatherStatus }] = await Promise.all([
        openHome(io, command),
        import("../lib/gateway/status_report.ts"),
      ]);
      const report = await gatherStatus(paths, { cleanupStale: true });
      io.out(options.json ? `${JSON.stringify(report, null, 2)}\n` : describeStatus(report));
      io.exitCode = report.running ? ExitCode.Ok : NOT_RUNNING_EXIT;
    });

  registerServiceCommands(gateway, io, gatewayCommandLine);
}

async function runInForeground(
  io: CliIo,
  command: Parameters<typeof openHome>[1],
  home: HomeContext,
  replace: boolean,
): Promise<number> {
  // The gateway (platforms, pipeline, web chat) loads only for `run`: status and stop start fast.
  const { runGateway } = await import("../lib/gateway/run_gateway.ts");
  return await runGateway({
    paths: home.paths,
    env: io.env,
    log: home.log,
    replace,
    lockDir: await lockDirOf(io),
    loadConfig: () => loadHomeConfig(io, command, home),
  });
}

/**
 * Supervised restart: ask the gateway to drain and exit 75 (control socket,
 * else SIGUSR1), wait for it to go, then for its supervisor to start the new one.
 */
async function restartSupervised(
  io: CliIo,
  { paths, log }: HomeContext,
  running: RunningGateway,
  report: GatewayStatusReport,
): Promise<void> {
  const [{ callControl }, { signalIfSame, waitForExit }, { findRunningGateway }] = await Promise
    .all([
      import("../lib/gateway/control_client.ts"),
      import("../lib/process/guarded_kill.ts"),
      import("../lib/process/running_gateway.ts"),
    ]);
  try {
    await callControl(paths.controlSocket, "drain", { exit: "restart" });
  } catch {
    signalIfSame(running.pid, running.startTime, "SIGUSR1");
  }
  const waitS = (report.drain_timeout_s ?? 180) + STOP_MARGIN_S;
  log.info("waiting for the gateway to drain", { pid: running.pid, wait_s: waitS });
  if (!await waitForExit(running.pid, running.startTime, { timeoutMs: waitS * 1000 })) {
    throw new HermesError(
      "restart_timeout",
      `Gateway (PID ${running.pid}) is still draining after ${waitS} s`,
      { hints: ["check: hermes gateway status"] },
    );
  }
  const deadline = performance.now() + REVIVE_WAIT_MS;
  while (performance.now() < deadline) {
    const next = findRunningGateway(paths).running;
    if (next && next.pid !== running.pid) {
      io.out(`Gateway restarted (PID ${running.pid} → ${next.pid})\n`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new HermesError(
    "restart_not_revived",
    `Gateway (PID ${running.pid}) exited for a restart, but ${report.supervisor} has not started a new one within ${
      REVIVE_WAIT_MS / 1000
    } s`,
    { hints: [`check the service: ${serviceStatusCommand(report.supervisor)}`] },
  );
}

function refuseWhenSupervised(report: GatewayStatusReport, pid: number): void {
  if (report.supervisor !== "systemd" && report.supervisor !== "launchd") return;
  throw new HermesError(
    "supervised",
    `Gateway (PID ${pid}) runs under ${report.supervisor}, which would start it again after this stop`,
    { hints: [`stop the service instead: ${serviceStopCommand(report.supervisor)}`] },
  );
}

function serviceStopCommand(supervisor: string): string {
  return supervisor === "launchd"
    ? "launchctl bootout gui/$(id -u)/ai.hermes.gateway"
    : "systemctl --user stop hermes-gateway";
}

function serviceStatusCommand(supervisor: string | null): string {
  return supervisor === "launchd"
    ? "launchctl print gui/$(id -u)/ai.hermes.gateway"
    : "systemctl --user status hermes-gateway";
}

/** Where the platforms' credential locks live (`HERMES_GATEWAY_LOCK_DIR` or the default). */
async function lockDirOf(io: CliIo): Promise<string> {
  const { credentialLockDir } = await import("../lib/process/credential_lock.ts");
  return credentialLockDir(io.env);
}

/** The command line that runs this hermes: the binary itself, or deno with the entry script. */
async function gatewayCommandLine(): Promise<string[]> {
  if (Deno.build.standalone) return [Deno.execPath()];
  const entry = new URL(Deno.mainModule);
  if (entry.protocol !== "file:") {
    throw new HermesError("install_failed", `Cannot install a service for ${Deno.mainModule}`);
  }
  const { cliRunFlags } = await import("../scripts/permissions.ts");
  return [Deno.execPath(), "run", ...cliRunFlags(), entry.pathname];
}

/** Human text for `gateway status`. */
export function describeStatus(report: GatewayStatusReport): string {
  const lines: string[] = [];
  if (report.running) {
    const up = report.uptime_s === null ? "" : `, up ${formatDuration(report.uptime_s)}`;
    lines.push(`Gateway running (PID ${report.pid})${up}`);
    lines.push(`  state: ${report.state ?? "unknown"}`);
    if (report.exit_reason && report.state !== "running") {
      lines.push(`  stopping: ${report.exit_reason}`);
    }
    lines.push(`  active work: ${report.active_work}`);
    if (report.outbox) {
      const { queued = 0, sending = 0, deferred = 0, failed = 0, undeliverable = 0 } =
        report.outbox;
      lines.push(
        `  outbox: ${
          queued + sending
        } to send, ${deferred} deferred, ${failed} retrying, ${undeliverable} undeliverable`,
      );
    }
    const storage = report.storage;
    if (storage && storage.backend !== "sqlite") {
      lines.push(
        storage.up
          ? `  storage: ${storage.backend}, connected`
          : `  storage: ${storage.backend}, connection lost since ${storage.since}: ${storage.error}`,
      );
    }
    if (report.supervisor) lines.push(`  supervisor: ${report.supervisor}`);
  } else {
    lines.push(`Gateway not running`);
    if (report.state) {
      const code = report.exit_code === null ? "" : `, exit code ${report.exit_code}`;
      lines.push(`  last state: ${report.state}${code}`);
      if (report.exit_reason) lines.push(`  reason: ${report.exit_reason}`);
    }
  }
  lines.push(`  home: ${report.home}`);
  if (report.loose_modes.length > 0) {
    lines.push(`  warning: ${describeLooseModes(report.loose_modes)}`);
  }
  const platforms = Object.entries(report.platforms);
  if (platforms.length === 0) {
    lines.push(
      report.running
        ? "  platforms: none configured"
        : "  platforms: none seen yet (start it with `hermes gateway run`)",
    );
  }
  for (const [name, value] of platforms) {
    const health = value as Partial<LinkHealth> & { last_seen_at?: string | null };
    // A stopped platform's address serves no one: say when it stopped instead.
    const where = health.state === "stopped"
      ? health.stopped_at
        ? ` at ${health.stopped_at}`
        : health.last_seen_at
        ? ` (last seen ${health.last_seen_at})`
        : ""
      : typeof health.details?.url === "string"
      ? ` ${health.details.url}`
      : "";
    const error = health.last_error
      ? ` (last error ${health.last_error.code}: ${health.last_error.message})`
      : "";
    lines.push(`  ${name}: ${String(health.state ?? "unknown")}${where}${error}`);
    lines.push(...describeLink(health).map((line) => `    ${line}`));
  }
  if (report.stale_record_removed !== null) {
    lines.push(
      `  removed a stale PID record (PID ${report.stale_record_removed}, no such gateway)`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The facts of a link's health worth a line: traffic, reconnects, dead windows, what the adapter adds. */
function describeLink(health: Partial<LinkHealth>): string[] {
  const lines: string[] = [];
  const inbound = Object.entries(health.last_inbound_at ?? {});
  if (inbound.length > 0) {
    lines.push(`last inbound: ${inbound.map(([route, at]) => `${route} ${at}`).join(", ")}`);
  }
  if (health.last_send_ok_at) lines.push(`last send ok: ${health.last_send_ok_at}`);
  if (health.reconnects || health.longest_dead_window_ms) {
    const dead = Math.round((health.longest_dead_window_ms ?? 0) / 100) / 10;
    lines.push(`reconnects: ${health.reconnects ?? 0}, longest dead window ${dead} s`);
  }
  if (health.down_since) lines.push(`down since: ${health.down_since}`);
  for (const [key, value] of Object.entries(health.details ?? {})) {
    if (key === "url") continue; // on the state line
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      lines.push(`${key.replaceAll("_", " ")}: ${value}`);
    } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      const parts = Object.entries(value).map(([k, v]) =>
        `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`
      );
      if (parts.length > 0) lines.push(`${key.replaceAll("_", " ")}: ${parts.join(", ")}`);
    }
  }
  return lines;
}

function formatDuration(totalSeconds: number): string {
  const d = Math.floor(totalSeconds / 86400);
  const h = Math.floor(totalSeconds % 86400 / 3600);
  const m = Math.floor(totalSeconds % 3600 / 60);
  const s = totalSeconds % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}
