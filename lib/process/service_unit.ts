/**
 * Service definitions that run the gateway under a supervisor with restart
 * rules that follow hermes' exit codes: a systemd unit on Linux, a launchd
 * property list on macOS.
 *
 * systemd: `Restart=always` revives the gateway, `RestartForceExitStatus=75`
 * and `SuccessExitStatus=75` make "restart me" a clean restart, not a
 * failure, and `RestartPreventExitStatus=78` leaves a broken configuration
 * down until an operator fixes it. `systemctl stop` sends SIGINT
 * (`KillSignal=SIGINT`), which the gateway treats as a planned stop.
 *
 * @module
 */

/** Where and how a service definition is installed. */
export interface ServiceTarget {
  readonly manager: "systemd" | "launchd";
  /** Unit name (`hermes-gateway[-<hash>]`) or launchd label (`ai.hermes.gateway[-<hash>]`). */
  readonly name: string;
  /** The file to write. */
  readonly path: string;
  /** The command that runs the gateway, one element per argument. */
  readonly command: readonly string[];
  readonly home: string;
  /** System-wide instead of for the current user. */
  readonly system: boolean;
  /** The user the system-wide service runs as. */
  readonly user: string | undefined;
  /** gateway.drain_timeout in seconds. */
  readonly drainTimeoutS: number;
}

/**
 * How long a supervisor should wait for the gateway to stop before killing
 * it: the drain plus margins, never under a minute.
 *
 * @example
 * ```ts
 * stopTimeoutSeconds(180); // 250
 * ```
 */
export function stopTimeoutSeconds(drainTimeoutS: number, cronTimeoutS = 0): number {
  const drain = Math.ceil(drainTimeoutS);
  return Math.max(60, Math.max(drain, cronTimeoutS + 10) + 30, drain + 70);
}

/**
 * The service name for `home`: plain for the default home (`~/.hermes`), else
 * suffixed with 8 hex digits of the home's SHA-256 so that several homes can
 * each have a service.
 */
export async function serviceName(
  manager: ServiceTarget["manager"],
  home: string,
  defaultHome: string,
): Promise<string> {
  const base = manager === "systemd" ? "hermes-gateway" : "ai.hermes.gateway";
  if (home === defaultHome) return base;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(home));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${base}-${hex.slice(0, 8)}`;
}

/**
 * The systemd unit for `target`.
 *
 * @example
 * ```ts
 * import { serviceTarget } from "./service_install.ts";
 * const target = await serviceTarget({
 *   home: "/home/ada/.hermes",
 *   env: { HOME: "/home/ada" },
 *   system: false,
 *   command: ["/usr/local/bin/hermes"],
 *   drainTimeoutS: 180,
 * });
 * renderSystemdUnit(target).includes("RestartPreventExitStatus=78"); // true
 * ```
 */
export function renderSystemdUnit(target: ServiceTarget): string {
  const lines = [
    "# Written by `hermes gateway install`; remove with `hermes gateway uninstall`.",
    "[Unit]",
    `Description=hermes gateway (${target.home})`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${target.command.map(systemdQuote).join(" ")}`,
    "ExecReload=/bin/kill -USR1 $MAINPID",
    `Environment=${systemdQuote(`HERMES_HOME=${target.home}`)}`,
    "Environment=HERMES_SUPERVISOR=systemd",
    ...(target.system && target.user ? [`User=${target.user}`] : []),
    "Restart=always",
    "RestartSec=5",
    "RestartForceExitStatus=75",
    "SuccessExitStatus=75",
    "RestartPreventExitStatus=78",
    "KillSignal=SIGINT",
    "KillMode=mixed",
    `TimeoutStopSec=${stopTimeoutSeconds(target.drainTimeoutS)}`,
    "",
    "[Install]",
    `WantedBy=${target.system ? "multi-user.target" : "default.target"}`,
    "",
  ];
  return lines.join("\n");
}

/**
 * The launchd property list for `target`. launchd cannot exempt one exit
 * code from KeepAlive, so a configuration error (78) is retried every
 * ThrottleInterval (60 s) instead of staying down.
 */
export function renderLaunchdPlist(target: ServiceTarget): string {
  const strings = (values: readonly string[]) =>
    values.map((v) => `      <string>${xmlEscape(v)}</string>`).join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by \`hermes gateway install\`; remove with \`hermes gateway uninstall\`. -->
<plist version="1.0">
  <dict>
    <key>Label</key>
    <string>${xmlEscape(target.name)}</string>
    <key>ProgramArguments</key>
    <array>
${strings(target.command)}
    </array>
    <key>EnvironmentVariables</key>
    <dict>
      <key>HERMES_HOME</key>
      <string>${xmlEscape(target.home)}</string>
      <key>HERMES_SUPERVISOR</key>
      <string>launchd</string>
    </dict>
    <key>RunAtLoad</key>
    <true/>
    <key>KeepAlive</key>
    <dict>
      <key>SuccessfulExit</key>
      <false/>
    </dict>
    <key>ThrottleInterval</key>
    <integer>60</integer>
    <key>ExitTimeOut</key>
    <integer>${stopTimeoutSeconds(target.drainTimeoutS)}</integer>
    <key>StandardErrorPath</key>
    <string>${xmlEscape(`${target.home}/logs/gateway.stderr.log`)}</string>
  </dict>
</plist>
`;
}

/** Quotes one word for systemd's command-line and assignment syntax. */
function systemdQuote(word: string): string {
  const escaped = word.replaceAll("%", "%%").replaceAll("$", "$$");
  if (!/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

function xmlEscape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}
