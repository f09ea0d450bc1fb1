/**
 * `hermes gateway install | uninstall`: where the service file goes, writing
 * or removing it, and the supervisor commands that enable or disable it
 * (run when the supervisor is present, printed for the operator otherwise).
 *
 * @module
 */

import { HermesError } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic_file.ts";
import {
  renderLaunchdPlist,
  renderSystemdUnit,
  serviceName,
  type ServiceTarget,
} from "./service_unit.ts";

/** What decides the service target. */
export interface ServiceRequest {
  readonly home: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly system: boolean;
  readonly command: readonly string[];
  readonly drainTimeoutS: number;
  /** `linux` or `darwin`; defaults to this system. */
  readonly os?: string;
}

/**
 * Works out the service file for a home: a systemd unit on Linux (user unit
 * under `$XDG_CONFIG_HOME/systemd/user`, or `/etc/systemd/system` with
 * `system`), a launchd plist on macOS.
 *
 * @example
 * ```ts
 * const target = await serviceTarget({
 *   home: "/home/ada/.hermes",
 *   env: { HOME: "/home/ada" },
 *   system: false,
 *   command: ["/usr/local/bin/hermes"],
 *   drainTimeoutS: 180,
 * });
 * target.path; // "/home/ada/.config/systemd/user/hermes-gateway.service"
 * ```
 */
export async function serviceTarget(request: ServiceRequest): Promise<ServiceTarget> {
  const os = request.os ?? Deno.build.os;
  const userHome = request.env.HOME ?? "";
  const defaultHome = `${userHome}/.hermes`;
  const common = {
    home: request.home,
    command: [...request.command, "gateway", "run"],
    system: request.system,
    user: request.env.USER ?? request.env.LOGNAME,
    drainTimeoutS: request.drainTimeoutS,
  };
  if (os === "darwin") {
    const name = await serviceName("launchd", request.home, defaultHome);
    const folder = request.system ? "/Library/LaunchDaemons" : `${userHome}/Library/LaunchAgents`;
    return { ...common, manager: "launchd", name, path: `${folder}/${name}.plist` };
  }
  if (os !== "linux") {
    throw new HermesError(
      "unsupported_os",
      `Cannot install a service on ${os}: hermes writes systemd units (Linux) and launchd plists (macOS)`,
    );
  }
  const name = await serviceName("systemd", request.home, defaultHome);
  const folder = request.system
    ? "/etc/systemd/system"
    : `${request.env.XDG_CONFIG_HOME || `${userHome}/.config`}/systemd/user`;
  return { ...common, manager: "systemd", name, path: `${folder}/${name}.service` };
}

/** The content of the service file. */
export function renderService(target: ServiceTarget): string {
  return target.manager === "systemd" ? renderSystemdUnit(target) : renderLaunchdPlist(target);
}

/** The commands that enable (install) or disable (uninstall) the service. */
export function supervisorCommands(target: ServiceTarget, action: "install" | "uninstall") {
  if (target.manager === "systemd") {
    const ctl = target.system ? ["systemctl"] : ["systemctl", "--user"];
    return action === "install"
      ? [[...ctl, "daemon-reload"], [...ctl, "enable", "--now", `${target.name}.service`]]
      : [[...ctl, "disable", "--now", `${target.name}.service`], [...ctl, "daemon-reload"]];
  }
  const domain = target.system ? "system" : `gui/${Deno.uid() ?? 501}`;
  return action === "install"
    ? [["launchctl", "bootstrap", domain, target.path]]
    : [["launchctl", "bootout", `${domain}/${target.name}`]];
}

/** Whether the supervisor itself is running here (systemd as init, or macOS). */
export function supervisorPresent(target: ServiceTarget): boolean {
  if (target.manager === "launchd") return Deno.build.os === "darwin";
  try {
    return Deno.statSync("/run/systemd/system").isDirectory;
  } catch {
    return false;
  }
}

/**
 * Writes the service file (creating its folder), mode 0644. Throws a
 * HermesError naming the path and the fix when it cannot.
 */
export async function writeService(target: ServiceTarget): Promise<void> {
  const folder = target.path.slice(0, target.path.lastIndexOf("/"));
  try {
    await Deno.mkdir(folder, { recursive: true });
    await writeFileAtomic(target.path, renderService(target), { mode: 0o644 });
  } catch (error) {
    throw new HermesError(
      "install_failed",
      `Cannot write ${target.path}: ${error instanceof Error ? error.message : String(error)}${
        target.system ? "; run with sudo, or without --system for a user service" : ""
      }`,
      { cause: error },
    );
  }
}

/**
 * Runs supervisor commands in order; returns the first that failed (with
 * its output), or undefined when all succeeded.
 */
export async function runSupervisorCommands(
  commands: readonly (readonly string[])[],
): Promise<{ command: readonly string[]; output: string } | undefined> {
  for (const command of commands) {
    try {
      const result = await new Deno.Command(command[0]!, {
        args: command.slice(1),
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!result.success) {
        const output = new TextDecoder().decode(result.stderr).trim();
        return { command, output };
      }
    } catch (error) {
      return { command, output: error instanceof Error ? error.message : String(error) };
    }
  }
  return undefined;
}
