/**
 * `hermes wecom probe`: diagnoses a WeCom AI Bot that "stays connected but
 * receives nothing". Looks at this machine first (a gateway of this home,
 * the bot's credential lock, its published link health, the persisted
 * device_id); while a gateway holds the bot it only reads that gateway's
 * health, since a second connection would take the link from it. Otherwise
 * it probes the link itself (`lib/platforms/wecom/probe.ts`).
 *
 * @module
 */

import type { CliCommand } from "./command.ts";
import { positiveSeconds, wholeNumber } from "./value_parsers.ts";
import { UsageError } from "../lib/errors.ts";
import type { LinkHealth } from "../lib/platforms/health.ts";
import type { ProbeFinding, ProbeReport, ProbeStep } from "../lib/platforms/wecom/probe.ts";
import type { HermesPaths } from "../lib/config/home.ts";
import { openContext } from "./context.ts";
import type { CliIo } from "./io.ts";

/** What the probe found out about this machine. */
export interface LocalSide {
  readonly home: string;
  readonly gateway: {
    readonly running: boolean;
    readonly pid: number | null;
    readonly state: string | null;
    /** Where its health was read: `socket`, `state_file` or `none`. */
    readonly source: string | null;
    /** The home of the gateway whose health is shown (another home when it holds the lock). */
    readonly home: string | null;
  };
  readonly credential_lock: {
    readonly path: string;
    readonly held: boolean;
    readonly pid: number | null;
    readonly home: string | null;
    /** `this_gateway`, `other_gateway` (another home), or null (free or stale). */
    readonly holder: "this_gateway" | "other_gateway" | null;
  };
  /** The WeCom link health that gateway publishes, or null. */
  readonly wecom: Partial<LinkHealth> | null;
  readonly device_id_file: string;
  readonly persisted_device_id: string | null;
  /** Whether the gateway's device_id is the persisted one (null: nothing to compare). */
  readonly device_id_matches: boolean | null;
  /** Whether the probe opened a connection of its own. */
  readonly probe_connected: boolean;
}

/** `hermes wecom probe --json`. */
export interface ProbeOutput extends Omit<ProbeReport, "callbacks"> {
  /** `persisted`, `fresh` (none persisted yet: made for the probe, not written) or `gateway`. */
  readonly device_id_source: "persisted" | "fresh" | "gateway";
  readonly local: LocalSide;
  readonly notes: readonly string[];
}

/** Adds the `wecom` command group to `program`. */
export function registerWecomCommands(program: CliCommand, io: CliIo): void {
  const wecom = program.command("wecom").description("Diagnose the WeCom AI Bot link");
  wecom.command("probe")
    .description(
      "Test the bot's long connection step by step and say what is wrong (exit 0 healthy, 1 a problem found)",
    )
    .option("--bot-id <id>", "the bot id (default WECOM_BOT_ID, wecom.bot_id)")
    .option("--secret <secret>", "the bot's secret (default WECOM_SECRET, wecom.secret)")
    .option("--url <url>", "the long-connection URL (default WECOM_WEBSOCKET_URL)")
    .option("--duration <seconds>", "how long to exchange heartbeats (default 60)", positiveSeconds)
    .option(
      "--interval <seconds>",
      "time between pings (default wecom.heartbeat_interval_seconds)",
      positiveSeconds,
    )
    .option("--reconnects <n>", "forced reconnect cycles (default 2)", wholeNumber)
    .option("--wait-message", "after the reconnects, ask for a message and wait for it")
    .option(
      "--wait-seconds <seconds>",
      "how long --wait-message waits (default 120)",
      positiveSeconds,
    )
    .option("--force", "probe even while a gateway holds this bot (takes its link away)")
    .option("--json", "print one JSON object")
    .action(async (options, command) => {
      // Masked before anything is printed, even a configuration error.
      if (options.secret) io.masker.add(options.secret);
      const { paths, loaded } = await openContext(io, command);
      const { wecomSettings } = await import("../lib/platforms/wecom/section.ts");
      const settings = wecomSettings(loaded.config);
      const botId = options.botId ?? settings.bot_id;
      const secret = options.secret ?? settings.secret;
      if (!botId || !secret) {
        const missing = [!botId && "WECOM_BOT_ID", !secret && "WECOM_SECRET"].filter(Boolean);
        throw new UsageError(
          `Cannot probe WeCom: ${missing.join(" and ")} ${
            missing.length > 1 ? "are" : "is"
          } not set (set WECOM_BOT_ID and WECOM_SECRET, or pass --bot-id and --secret)`,
        );
      }
      const url = options.url ?? settings.websocket_url;
      if (!/^wss?:\/\/[^/]/.test(url) || !URL.canParse(url)) {
        throw new UsageError(
          `Cannot probe "${url}": expected a ws:// or wss:// URL`,
          "hermes wecom probe --url wss://openws.work.weixin.qq.com",
        );
      }
      const enabled = settings.enabled ?? settings.bot_id !== undefined;
      const configuredHere = enabled && settings.bot_id === botId;
      const local = await inspectLocal(paths, io.env, botId, configuredHere);
      const output = local.holds && !options.force
        ? await fromGateway(local, botId, url)
        : await probe(io, local, {
          url,
          botId,
          secret,
          durationMs: (options.duration ?? 60) * 1000,
          intervalMs: (options.interval ?? settings.heartbeat_interval_seconds) * 1000,
          heartbeatTimeoutMs: settings.heartbeat_timeout_seconds * 1000,
          reconnects: options.reconnects ?? 2,
          waitMs: options.waitMessage ? (options.waitSeconds ?? 120) * 1000 : undefined,
        });
      io.out(options.json ? `${JSON.stringify(output, null, 2)}\n` : describeProbe(output));
      io.exitCode = output.verdict === "healthy" ? 0 : 1;
    });
}

/** The local side, plus whether a gateway holds the bot (the probe must not connect then). */
interface Inspected {
  readonly side: Omit<LocalSide, "probe_connected">;
  readonly holds: boolean;
  /** How long reading the gateway's status took. */
  readonly readMs: number;
  /** The gateway's started_at, for "no message since". */
  readonly since: string | null;
  readonly persisted: string | undefined;
  readonly notes: string[];
}

async function inspectLocal(
  paths: HermesPaths,
  env: Readonly<Record<string, string | undefined>>,
  botId: string,
  configuredHere: boolean,
): Promise<Inspected> {
  const [
    { findRunningGateway, asRunningGateway },
    { credentialLockDir, credentialLockName },
    { readPidRecordFile },
    { gatherStatus },
    { hermesPaths },
    { readDeviceId, DEVICE_ID_FILE },
    { WECOM_LOCK_SCOPE },
  ] = await Promise.all([
    import("../lib/process/running_gateway.ts"),
    import("../lib/process/credential_lock.ts"),
    import("../lib/process/pid_record.ts"),
    import("../lib/gateway/status_report.ts"),
    import("../lib/config/home.ts"),
    import("../lib/platforms/wecom/device_id.ts"),
    import("../lib/platforms/wecom/adapter.ts"),
  ]);
  const notes: string[] = [];
  const stateDir = `${paths.home}/platforms/wecom`;
  let persisted: string | undefined;
  try {
    persisted = await readDeviceId(stateDir, botId);
  } catch (error) {
    notes.push(`${stateDir}/${DEVICE_ID_FILE} cannot be read: ${(error as Error).message}`);
  }
  const { running } = findRunningGateway(paths);
  const lockPath = `${credentialLockDir(env)}/${await credentialLockName(WECOM_LOCK_SCOPE, botId)}`;
  const record = readPidRecordFile(lockPath);
  const holder = record && asRunningGateway(record, record.hermes_home);
  const holderKind = !holder
    ? null
    : running && holder.pid === running.pid
    ? "this_gateway" as const
    : "other_gateway" as const;
  // Whose health to read: this home's gateway, else the gateway elsewhere that holds the bot.
  const gatewayHome = running
    ? paths.home
    : holderKind === "other_gateway"
    ? record!.hermes_home
    : undefined;
  const reading = performance.now();
  const status = gatewayHome ? await gatherStatus(hermesPaths(gatewayHome)) : undefined;
  const readMs = Math.round(performance.now() - reading);
  const published = status?.running ? status.platforms.wecom : undefined;
  const health = typeof published === "object" && published !== null
    ? published as Partial<LinkHealth>
    : null;
  const healthBot = health?.details?.bot_id;
  const usesBot = health !== null && (healthBot === undefined || healthBot === botId);
  const holds = holderKind !== null || (running !== undefined && (usesBot || configuredHere));
  const gatewayDevice = typeof health?.details?.device_id === "string"
    ? health.details.device_id
    : undefined;
  if (running && !holds) {
    notes.push(
      `the gateway (PID ${running.pid}) runs without this bot, so the probe used a connection of its own`,
    );
  }
  return {
    side: {
      home: paths.home,
      gateway: {
        running: status?.running ?? false,
        pid: status?.pid ?? null,
        state: status?.running ? status.state : null,
        source: status?.running ? status.source : null,
        home: status?.running ? status.home : null,
      },
      credential_lock: {
        path: lockPath,
        held: holder !== undefined && holder !== null,
        pid: holder?.pid ?? null,
        home: holder ? record!.hermes_home || null : null,
        holder: holderKind,
      },
      wecom: usesBot ? health : null,
      device_id_file: `${stateDir}/${DEVICE_ID_FILE}`,
      persisted_device_id: persisted ?? null,
      device_id_matches: usesBot && gatewayDevice && persisted ? gatewayDevice === persisted : null,
    },
    holds,
    readMs,
    since: status?.started_at ?? null,
    persisted,
    notes,
  };
}

/** The verdict from the health of the gateway that holds the bot; no connection of our own. */
async function fromGateway(local: Inspected, botId: string, url: string): Promise<ProbeOutput> {
  const { healthFindings } = await import("../lib/platforms/wecom/probe_health.ts");
  const { side } = local;
  const gateway = side.gateway;
  const pid = gateway.pid ?? side.credential_lock.pid;
  const findings: ProbeFinding[] = [];
  if (side.wecom) {
    findings.push(...healthFindings(side.wecom, {
      now: new Date(),
      persistedDeviceId: local.persisted,
      since: local.since,
    }));
  } else {
    findings.push({
      code: "no_gateway_health",
      message: `The gateway (PID ${pid}) holds this bot but its WeCom link health cannot be read`,
      fix: `Ask it directly: hermes gateway status${
        gateway.home && gateway.home !== side.home ? ` (HERMES_HOME=${gateway.home})` : ""
      }`,
    });
  }
  const health = side.wecom;
  const step: ProbeStep = {
    name: "gateway_health",
    ok: findings.length === 0,
    ms: local.readMs,
    detail: health
      ? `the gateway (PID ${pid}) publishes state ${health.state}${
        gateway.source
          ? ` (read from its ${
            gateway.source === "socket" ? "control socket" : "gateway_state.json"
          })`
          : ""
      }`
      : "no WeCom health published",
  };
  const deviceId = typeof health?.details?.device_id === "string"
    ? health.details.device_id
    : local.persisted ?? "";
  return {
    verdict: findings.length === 0 ? "healthy" : "problem",
    url: typeof health?.details?.url === "string" ? health.details.url : url,
    bot_id: botId,
    device_id: deviceId,
    device_id_source: health?.details?.device_id ? "gateway" : "persisted",
    steps: [step],
    findings,
    local: { ...side, probe_connected: false },
    notes: [
      `a gateway (PID ${pid}) holds this bot: the probe read its published health and opened no connection (--force probes anyway, taking the link from it)`,
      ...local.notes,
    ],
  };
}

async function probe(
  io: CliIo,
  local: Inspected,
  o: {
    url: string;
    botId: string;
    secret: string;
    durationMs: number;
    intervalMs: number;
    heartbeatTimeoutMs: number;
    reconnects: number;
    waitMs: number | undefined;
  },
): Promise<ProbeOutput> {
  if (local.holds) {
    const pid = local.side.gateway.pid ?? local.side.credential_lock.pid;
    io.err(
      `hermes: warning: the gateway (PID ${pid}) holds this bot; with --force the probe takes its link away, and the gateway will reconnect and take it back (expect superseded, 846609 or a takeover in both)\n`,
    );
  }
  const { probeWecom } = await import("../lib/platforms/wecom/probe.ts");
  const deviceId = local.persisted ?? crypto.randomUUID().replaceAll("-", "");
  const notes = [...local.notes];
  if (!local.persisted) {
    notes.push(
      `no device_id is persisted for this bot yet: the probe used a fresh one (${deviceId}) and did not write it`,
    );
  }
  const proxy = proxyFor(o.url, io.env);
  const report = await probeWecom({
    url: o.url,
    botId: o.botId,
    secret: o.secret,
    deviceId,
    durationMs: o.durationMs,
    intervalMs: o.intervalMs,
    heartbeatTimeoutMs: o.heartbeatTimeoutMs,
    reconnects: o.reconnects,
    ...(proxy ? { proxy } : {}),
    ...(o.waitMs === undefined
      ? {}
      : { waitMessage: { timeoutMs: o.waitMs, prompt: (text: string) => io.err(`${text}\n`) } }),
    onStep: io.stderrIsTerminal ? (step) => io.err(`  ${stepLine(step)}\n`) : undefined,
  });
  const { callbacks, ...rest } = report;
  if (callbacks > 0) {
    notes.push(
      `${callbacks} callback(s) reached the probe; with no gateway connected nobody answered them`,
    );
  }
  return {
    ...rest,
    device_id_source: local.persisted ? "persisted" : "fresh",
    local: { ...local.side, probe_connected: true },
    notes,
  };
}

/** The proxy a WebSocket to `url` goes through (as Deno's does), shown without credentials. */
function proxyFor(
  url: string,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const target = new URL(url);
  const names = target.protocol === "wss:"
    ? ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    : ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];
  const proxy = names.map((name) => env[name]).find((value) => value);
  if (!proxy) return undefined;
  const exempt = (env.NO_PROXY ?? env.no_proxy ?? "").split(",").map((e) => e.trim()).filter(
    Boolean,
  );
  const host = target.hostname;
  if (
    exempt.some((e) =>
      e === "*" || host === e.replace(/^\./, "") || host.endsWith(`.${e.replace(/^\./, "")}`)
    )
  ) {
    return undefined;
  }
  try {
    const parsed = new URL(proxy);
    return `the proxy ${parsed.protocol}//${parsed.host}`;
  } catch {
    return "a proxy";
  }
}

/**
 * Human text for `hermes wecom probe`: the verdict, each step with its
 * timing, the findings with cause and fix, then the local side.
 */
export function describeProbe(output: ProbeOutput): string {
  const lines = [output.verdict === "healthy" ? "healthy" : "problem found"];
  lines.push(
    `bot ${output.bot_id} at ${output.url}, device_id ${
      output.device_id || "unknown"
    } (${output.device_id_source})`,
  );
  lines.push("steps:");
  for (const step of output.steps) lines.push(`  ${stepLine(step)}`);
  if (output.findings.length > 0) {
    lines.push("findings:");
    for (const finding of output.findings) {
      lines.push(`  ${finding.code}`, `    cause: ${finding.message}`, `    fix:   ${finding.fix}`);
    }
  }
  const { gateway, credential_lock: lock, wecom } = output.local;
  lines.push("local:");
  lines.push(
    gateway.running
      ? `  gateway: running (PID ${gateway.pid}, ${gateway.state ?? "unknown"}) in ${gateway.home}`
      : `  gateway: not running in ${output.local.home}`,
  );
  lines.push(
    lock.held
      ? `  credential lock: held by ${
        lock.holder === "this_gateway" ? "this home's gateway" : "a gateway"
      } (PID ${lock.pid}, home ${lock.home ?? "unknown"})`
      : "  credential lock: free",
  );
  if (wecom) {
    const inbound = ["dm", "group"].map((r) => `${r} ${wecom.last_inbound_at?.[r] ?? "never"}`);
    const counts = wecom.details?.error_counts;
    lines.push(
      `  link: ${wecom.state}, last inbound ${inbound.join(", ")}, ${
        wecom.reconnects ?? 0
      } reconnects, longest dead window ${
        Math.round((wecom.longest_dead_window_ms ?? 0) / 1000)
      } s`,
    );
    if (counts && typeof counts === "object" && Object.keys(counts).length > 0) {
      lines.push(
        `  error counts: ${Object.entries(counts).map(([code, n]) => `${code} ×${n}`).join(", ")}`,
      );
    }
    if (wecom.last_error) {
      lines.push(
        `  last error: ${wecom.last_error.code}: ${wecom.last_error.message} (${wecom.last_error.at})`,
      );
    }
  }
  lines.push(
    `  device_id: ${
      output.local.persisted_device_id ?? "none persisted"
    } (${output.local.device_id_file})${
      output.local.device_id_matches === false ? ", not the gateway's" : ""
    }`,
  );
  for (const note of output.notes) lines.push(`note: ${note}`);
  return `${lines.join("\n")}\n`;
}

function stepLine(step: ProbeStep): string {
  const mark = step.skipped ? "skip" : step.ok ? "ok" : "FAIL";
  const ms = step.ms === null ? "" : `${Math.round(step.ms)} ms`;
  return `${mark.padEnd(4)}  ${step.name.padEnd(14)} ${ms.padStart(8)}  ${step.detail}`;
}
