/**
 * `hermes pair list|approve|revoke|clear-pending`: the operator's side of
 * pairing. Works on the pairing files directly (no configuration needed, so
 * it works while the configuration is broken); after an approval it asks a
 * running gateway, over the control socket, to tell the user.
 *
 * @module
 */

import type { CliCommand } from "./command.ts";
import type { HermesPaths } from "../lib/config/home.ts";
import { UsageError } from "../lib/errors.ts";
import type { Approval, ApprovedUser, Lockout, PairingStore } from "../lib/auth/pairing.ts";
import { loadHomeConfig, openHome } from "./context.ts";
import type { CliIo } from "./io.ts";

/** `approve`: the code was not found or has expired. */
export const NOT_FOUND_EXIT = 1;
/** `approve`: the platform's approvals are locked after too many wrong codes. */
export const LOCKED_OUT_EXIT = 4;

/** Adds the `pair` command group to `program`. */
export function registerPairCommands(program: CliCommand, io: CliIo): void {
  const pair = program.command("pair").description(
    "Approve, list and revoke users who paired with a code",
  );

  pair.command("list")
    .description("Show pending requests (platform, request id, user, age) and approved users")
    .option("--json", "print one JSON object")
    .action(async (options, command) => {
      // Reading only: a newer CLI never migrates the database of a running older gateway.
      await using pairing = await openStore(io, command, { readOnly: true });
      const { store } = pairing;
      const [pending, approved, lockouts] = await Promise.all([
        store.listPending(),
        store.listApproved(),
        store.lockouts(),
      ]);
      if (options.json) {
        const json = {
          pending: pending.map((r) => ({
            platform: r.platform,
            request_id: r.requestId,
            user_id: r.userId,
            user_name: r.userName ?? null,
            created_at: r.createdAt.toISOString(),
            age_minutes: r.ageMinutes,
          })),
          approved: approved.map((u) => ({
            platform: u.platform,
            user_id: u.userId,
            user_name: u.userName ?? null,
            approved_at: u.approvedAt.toISOString(),
          })),
          lockouts: lockouts.map((l) => ({
            platform: l.platform,
            until: l.until.toISOString(),
            minutes_left: l.minutesLeft,
          })),
        };
        return void io.out(`${JSON.stringify(json, null, 2)}\n`);
      }
      if (pending.length === 0 && approved.length === 0 && lockouts.length === 0) {
        return void io.out("No pairing data yet: no one has asked to pair.\n");
      }
      const lines: string[] = [];
      lines.push(pending.length === 0 ? "No pending requests." : "Pending requests:");
      lines.push(...table(
        ["PLATFORM", "REQUEST ID", "USER", "AGE"],
        pending.map((r) => [r.platform, r.requestId, who(r), `${r.ageMinutes}m ago`]),
      ));
      lines.push(approved.length === 0 ? "No approved users." : "Approved users:");
      lines.push(...table(
        ["PLATFORM", "USER", "APPROVED"],
        approved.map((u) => [u.platform, who(u), u.approvedAt.toISOString().slice(0, 16)]),
      ));
      for (const lockout of lockouts) lines.push(describeLockout(lockout));
      io.out(`${lines.join("\n")}\n`);
    });

  pair.command("approve")
    .description("Approve the user who was given CODE (the platform is optional)")
    .argument("[platform-or-code]", "the code, or the platform followed by the code")
    .argument("[code]", "the code, when a platform comes first")
    .option("--request-id <id>", "approve a pending request by its id (see `hermes pair list`)")
    .option(
      "--user <platform:user_id>",
      "approve a user directly, when the code never reached them",
    )
    .action(async (first, second, options, command) => {
      // Only --user compares ids (with a pending request's), as the platform declares.
      await using pairing = await openStore(io, command, {
        idRules: options.user !== undefined,
      });
      const { store, paths } = pairing;
      const approval = await approve(store, first, second, options);
      if (approval.kind === "locked") {
        io.err(`${approval.lockouts.map(describeLockout).join("\n")}\n`);
        io.err(
          `hint: approve by request id instead (hermes pair approve --request-id ID; ids in hermes pair list), or delete "_lockout:<platform>" from ${store.limitsLocation}\n`,
        );
        io.exitCode = LOCKED_OUT_EXIT;
        return;
      }
      if (approval.kind === "not_found") {
        const what = options.requestId
          ? `Request id '${options.requestId}'`
          : `Code '${(second ?? first ?? "").trim().toUpperCase()}'`;
        const where = approval.searched.length > 0
          ? ` (searched: ${approval.searched.join(", ")})`
          : " (no pending requests)";
        io.err(`${what} not found or expired${where}.\n`);
        for (const lockout of approval.lockedNow) io.err(`${describeLockout(lockout)}\n`);
        io.err("hint: hermes pair list shows pending requests\n");
        io.exitCode = NOT_FOUND_EXIT;
        return;
      }
      const { user } = approval;
      io.out(`Approved: ${who(user)} on ${user.platform} can now use the bot.\n`);
      io.out(`${await tellUser(paths, user, pairing.pooled)}\n`);
    });

  pair.command("revoke")
    .description("Take an approved user's access away (takes effect at once)")
    .argument("<platform>", "the platform, e.g. local or wecom")
    .argument("<user_id>", "the user's id, as `hermes pair list` shows it")
    .action(async (platform, userId, _options, command) => {
      await using pairing = await openStore(io, command, { idRules: true });
      const { store } = pairing;
      const name = platform.trim().toLowerCase();
      const revoked = await store.revoke(name, userId);
      if (revoked === undefined) {
        io.err(`User ${userId} not found in the approved list of ${name}.\n`);
        io.err("hint: hermes pair list shows approved users\n");
        io.exitCode = NOT_FOUND_EXIT;
        return;
      }
      io.out(`Revoked access for user ${revoked} on ${name}.\n`);
      const listed = await configuredAllowance(io, command, name, revoked);
      if (listed) {
        io.out(
          `Note: ${revoked} is also in ${listed}, which still lets them in; remove them there.\n`,
        );
      }
    });

  pair.command("clear-pending")
    .description("Drop pending requests (their codes stop working)")
    .argument("[platform]", "only this platform")
    .action(async (platform, _options, command) => {
      await using pairing = await openStore(io, command);
      const { store } = pairing;
      const count = await store.clearPending(platform?.trim().toLowerCase());
      io.out(
        count === 0
          ? "No pending requests to clear.\n"
          : `Cleared ${count} pending pairing request(s).\n`,
      );
    });
}

/**
 * The pairing store of the home. With `idRules`, ids are compared as each
 * built-in platform declares (loading the platforms' definitions, which
 * listing and approving by code do without); plugins are not loaded, so
 * their ids are compared exactly.
 */
async function openStore(
  io: CliIo,
  command: Parameters<typeof openHome>[1],
  options: { idRules?: boolean; readOnly?: boolean } = {},
) {
  const home = await openHome(io, command);
  const { paths, log } = home;
  // The configuration says where pairing lives: the home's files, or a pool's database.
  const { config } = await loadHomeConfig(io, command, home);
  const { openPairing } = await import("../lib/auth/pairing_backend.ts");
  let idsFoldCase: ((platform: string) => boolean) | undefined;
  if (options.idRules) ({ idsFoldCase } = await import("../lib/platforms/registry.ts"));
  const pairing = openPairing(config.storage, paths, {
    log,
    idsFoldCase,
    readOnly: options.readOnly,
  });
  return {
    paths,
    store: pairing.store,
    pooled: config.storage.backend === "postgres",
    [Symbol.asyncDispose]: () => pairing.close(),
  };
}

async function approve(
  store: PairingStore,
  first: string | undefined,
  second: string | undefined,
  options: { requestId?: string; user?: string },
): Promise<Approval> {
  if (options.user !== undefined) {
    if (first !== undefined || options.requestId !== undefined) {
      throw new UsageError(
        "--user takes no code and no --request-id",
        "hermes pair approve --user local:alice",
      );
    }
    const colon = options.user.indexOf(":");
    if (colon <= 0 || colon === options.user.length - 1) {
      throw new UsageError(
        `Invalid --user "${options.user}": expected PLATFORM:USER_ID`,
        "hermes pair approve --user local:alice",
      );
    }
    const platform = options.user.slice(0, colon).trim().toLowerCase();
    const user = await store.approveUser(platform, options.user.slice(colon + 1).trim());
    return { kind: "approved", user };
  }
  if (options.requestId !== undefined) {
    if (second !== undefined) {
      throw new UsageError(
        "--request-id takes at most a platform besides it",
        "hermes pair approve --request-id 3f9a0c1d2e4b5a6c",
      );
    }
    return await store.approveRequest(options.requestId, first?.trim().toLowerCase());
  }
  if (first === undefined) {
    throw new UsageError(
      "Missing the code to approve",
      "hermes pair approve CODE (hermes pair list shows pending requests)",
    );
  }
  return second === undefined
    ? await store.approveCode(first)
    : await store.approveCode(second, first.trim().toLowerCase());
}

/** Asks a running gateway to tell `user` they are approved; says what happened. */
async function tellUser(paths: HermesPaths, user: ApprovedUser, pooled: boolean): Promise<string> {
  const { callControl } = await import("../lib/gateway/control_client.ts");
  try {
    const result = await callControl(paths.controlSocket, "pairing_notify", {}, {
      timeoutMs: 10_000,
    }) as { delivered?: string[] } | null;
    if (result?.delivered?.includes(`${user.platform}:${user.userId}`)) {
      return `They were told on ${user.platform} that they can talk to the bot now.`;
    }
    return `The gateway tells them as soon as ${user.platform} is connected.`;
  } catch {
    return pooled
      ? `No gateway runs in this home; the gateway of the pool that serves ${user.platform} lets them in on their next message and tells them within a minute.`
      : "No gateway is running; they are told when it next starts.";
  }
}

/** Where the configuration still allows `userId` on `platform`, if anywhere. */
async function configuredAllowance(
  io: CliIo,
  command: Parameters<typeof openHome>[1],
  platform: string,
  userId: string,
): Promise<string | undefined> {
  try {
    const { paths } = await openHome(io, command);
    const { loadConfig, environmentWithDotenv } = await import("../lib/config/load.ts");
    const { platformAccess } = await import("../lib/auth/access_settings.ts");
    await import("../lib/platforms/builtin.ts"); // `local:` is a built-in platform's section
    const { idsFoldCase } = await import("../lib/platforms/registry.ts");
    const loaded = await loadConfig({ paths, env: io.env });
    const access = platformAccess(loaded.config, environmentWithDotenv(loaded, io.env), platform, {
      idsFoldCase: idsFoldCase(platform),
    });
    if (access.allowFrom.has(userId)) return `${access.settingsPath}.allow_from`;
    if (access.adminFrom.has(userId)) return `${access.settingsPath}.admin_from`;
  } catch {
    // A broken configuration is reported by the commands that need it.
  }
  return undefined;
}

function who(user: { userId: string; userName?: string }): string {
  return user.userName ? `${user.userName} (${user.userId})` : user.userId;
}

function describeLockout(lockout: Lockout): string {
  return `Approvals for ${lockout.platform} are locked for ${lockout.minutesLeft} more minute(s) after too many wrong codes.`;
}

function table(header: string[], rows: string[][]): string[] {
  if (rows.length === 0) return [];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `  ${cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("  ")}`;
  return [line(header), ...rows.map(line)];
}
