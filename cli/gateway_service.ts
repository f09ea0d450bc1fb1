/**
 * `hermes gateway install [--dry-run] [--system]` and `hermes gateway
 * uninstall [--system]`: the systemd unit or launchd plist that keeps the
 * gateway running.
 *
 * @module
 */

import type { CliCommand } from "./command.ts";
import type { ServiceTarget } from "../lib/process/service_unit.ts";
import { openContext } from "./context.ts";
import type { CliIo } from "./io.ts";

/** Adds `install` and `uninstall` to the `gateway` command group. */
export function registerServiceCommands(
  gateway: CliCommand,
  io: CliIo,
  commandLine: () => Promise<string[]>,
): void {
  gateway.command("install")
    .description("Install a systemd user unit (launchd plist on macOS) that runs the gateway")
    .option("--dry-run", "print the file and the commands; change nothing")
    .option("--system", "install system-wide (needs root) instead of for this user")
    .action(async (options, command) => {
      const [{ paths, loaded }, install] = await Promise.all([
        openContext(io, command),
        import("../lib/process/service_install.ts"),
      ]);
      const { renderService, serviceTarget, supervisorCommands, writeService } = install;
      const target = await serviceTarget({
        home: paths.home,
        env: io.env,
        system: options.system === true,
        command: await commandLine(),
        drainTimeoutS: loaded.config.gateway.drain_timeout,
      });
      const commands = supervisorCommands(target, "install");
      if (options.dryRun) {
        io.out(`# ${target.path}\n${renderService(target)}`);
        io.out(`# then run:\n${commands.map((c) => `${c.join(" ")}\n`).join("")}`);
        return;
      }
      await writeService(target);
      io.out(`Wrote ${target.path}\n`);
      await applyOrPrint(io, target, commands, "enable it");
      if (target.manager === "systemd" && !target.system) {
        io.out(`To keep it running while you are logged out: loginctl enable-linger $USER\n`);
      }
    });

  gateway.command("uninstall")
    .description("Disable and remove the service that `gateway install` wrote")
    .option("--system", "remove the system-wide service")
    .action(async (options, command) => {
      const [{ paths }, { serviceTarget, supervisorCommands }] = await Promise.all([
        openContext(io, command),
        import("../lib/process/service_install.ts"),
      ]);
      const target = await serviceTarget({
        home: paths.home,
        env: io.env,
        system: options.system === true,
        command: await commandLine(),
        drainTimeoutS: 0,
      });
      try {
        await Deno.stat(target.path);
      } catch {
        io.out(`No service installed at ${target.path}\n`);
        return;
      }
      await applyOrPrint(io, target, supervisorCommands(target, "uninstall"), "disable it");
      await Deno.remove(target.path);
      io.out(`Removed ${target.path}\n`);
    });
}

/** Runs the supervisor commands when the supervisor is here; prints them otherwise. */
async function applyOrPrint(
  io: CliIo,
  target: ServiceTarget,
  commands: readonly (readonly string[])[],
  purpose: string,
): Promise<void> {
  const { runSupervisorCommands, supervisorPresent } = await import(
    "../lib/process/service_install.ts"
  );
  const listing = commands.map((c) => `  ${c.join(" ")}\n`).join("");
  if (!supervisorPresent(target)) {
    io.out(`${target.manager} is not running on this machine; to ${purpose}, run:\n${listing}`);
    return;
  }
  const failed = await runSupervisorCommands(commands);
  if (failed) {
    io.err(`hermes: ${failed.command.join(" ")} failed: ${failed.output}\n`);
    io.out(`To ${purpose}, run:\n${listing}`);
    io.exitCode = 1;
    return;
  }
  io.out(`Ran:\n${listing}`);
}
