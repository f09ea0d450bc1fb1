/**
 * Credential locks: a bot credential (a token, a bot id) may be used by one
 * gateway at a time on this machine, whatever its home. An adapter claims its
 * credential before it connects; a second gateway wanting the same one fails
 * that platform with an error naming the holder.
 *
 * Files: `<scope>-<sha256(identity)[:16]>.lock` in `$HERMES_GATEWAY_LOCK_DIR`,
 * else `${XDG_STATE_HOME:-~/.local/state}/hermes/gateway-locks`.
 *
 * @module
 */

import { isGatewayCommand, readIdentity } from "./identity.ts";
import { currentPidRecord, parsePidRecord, type PidRecord } from "./pid_record.ts";
import { writeJsonAtomic } from "../util/atomic_file.ts";
import { writeAllSync } from "../util/write_all.ts";

/** The record stored in a credential lock file. */
export interface CredentialLockRecord extends PidRecord {
  readonly scope: string;
  readonly identity_hash: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly updated_at: string;
}

/** The outcome of {@linkcode acquireCredentialLock}. */
export type CredentialClaim =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly path: string; readonly holder: CredentialLockRecord };

/**
 * The folder credential locks live in.
 *
 * @example
 * ```ts
 * credentialLockDir({ HOME: "/home/ada" }); // "/home/ada/.local/state/hermes/gateway-locks"
 * ```
 */
export function credentialLockDir(env: Readonly<Record<string, string | undefined>>): string {
  if (env.HERMES_GATEWAY_LOCK_DIR) return env.HERMES_GATEWAY_LOCK_DIR;
  const state = env.XDG_STATE_HOME || `${env.HOME ?? env.USERPROFILE ?? "."}/.local/state`;
  return `${state}/hermes/gateway-locks`;
}

/**
 * The lock file name of a credential: scope plus 16 hex digits of the
 * identity's SHA-256 (the identity itself is never written anywhere).
 *
 * @example
 * ```ts
 * await credentialLockName("telegram-bot-token", "secret"); // "telegram-bot-token-2bb80d537b1da3e3.lock"
 * ```
 */
export async function credentialLockName(scope: string, identity: string): Promise<string> {
  return `${scope}-${(await identityHash(identity)).slice(0, 16)}.lock`;
}

/**
 * Claims a credential for this process. Succeeds when the lock is free,
 * stale (its holder is dead, reused, stopped or no gateway) or already ours;
 * otherwise returns the live holder's record.
 *
 * @example
 * ```ts
 * const dir = credentialLockDir(Deno.env.toObject());
 * const claim = await acquireCredentialLock(dir, "wecom-bot", "aib-7Qx2", { home: "/srv/hermes" });
 * if (!claim.ok) throw new Error(describeHolder("wecom", claim.holder));
 * ```
 */
export async function acquireCredentialLock(
  dir: string,
  scope: string,
  identity: string,
  options: { home: string; metadata?: Record<string, unknown> },
): Promise<CredentialClaim> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = `${dir}/${await credentialLockName(scope, identity)}`;
  const record: CredentialLockRecord = {
    ...currentPidRecord(options.home),
    scope,
    identity_hash: await identityHash(identity),
    metadata: options.metadata ?? {},
    updated_at: new Date().toISOString(),
  };
  removeDeadTemps(path);
  for (let attempt = 0; attempt < 2; attempt++) {
    const existing = readLockRecord(path);
    if (existing === "missing") {
      if (createExclusive(path, record)) return { ok: true, path };
      continue; // somebody created it between our read and our create: look again
    }
    if (existing !== "corrupt" && existing.pid === Deno.pid) {
      await writeJsonAtomic(path, record, { mode: 0o600 });
      return { ok: true, path };
    }
    if (existing !== "corrupt" && !isStale(existing)) return { ok: false, path, holder: existing };
    await removeStale(path);
  }
  const holder = readLockRecord(path);
  return typeof holder === "object"
    ? { ok: false, path, holder }
    : { ok: false, path, holder: record };
}

/** Releases a credential lock if this process holds it. */
export async function releaseCredentialLock(
  dir: string,
  scope: string,
  identity: string,
): Promise<void> {
  const path = `${dir}/${await credentialLockName(scope, identity)}`;
  const existing = readLockRecord(path);
  if (typeof existing === "object" && existing.pid === Deno.pid) {
    await Deno.remove(path).catch(() => {});
  }
}

/**
 * Removes every lock held by the given owner (matched on PID and, when both
 * are known, start time), e.g. those of a gateway that was just replaced.
 * Returns how many were removed.
 */
export async function releaseAllCredentialLocks(
  dir: string,
  owner: { pid: number; startTime: number | null },
): Promise<number> {
  let removed = 0;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!entry.isFile || !entry.name.endsWith(".lock")) continue;
    const record = readLockRecord(`${dir}/${entry.name}`);
    if (typeof record !== "object" || record.pid !== owner.pid) continue;
    if (
      record.start_time !== null && owner.startTime !== null &&
      record.start_time !== owner.startTime
    ) continue;
    await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
    removed++;
  }
  return removed;
}

/**
 * The one-line error a platform reports when its credential is taken.
 *
 * @example
 * ```ts
 * declare const holder: CredentialLockRecord; // PID 4242, home /srv/a
 * describeHolder("telegram", holder);
 * // "Cannot connect telegram: its credential is in use by the gateway PID 4242 (home /srv/a); stop that gateway or give this one another credential"
 * ```
 */
export function describeHolder(platform: string, holder: CredentialLockRecord): string {
  return `Cannot connect ${platform}: its credential is in use by the gateway PID ${holder.pid} ` +
    `(home ${
      holder.hermes_home || "unknown"
    }); stop that gateway or give this one another credential`;
}

/** Stale: dead, PID reused, stopped, or not a hermes gateway. */
function isStale(record: PidRecord): boolean {
  const live = readIdentity(record.pid);
  if (!live) return true;
  if (record.start_time !== null && live.startTime !== record.start_time) return true;
  if (live.state === "T" || live.state === "t") return true;
  if (live.cmdline.length > 0) return !isGatewayCommand(live.cmdline);
  return record.start_time === null && !isGatewayCommand(record.argv);
}

function readLockRecord(path: string): CredentialLockRecord | "missing" | "corrupt" {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? "missing" : "corrupt";
  }
  const base = parsePidRecord(text);
  if (!base) return "corrupt";
  const raw = JSON.parse(text) as Record<string, unknown>;
  return {
    ...base,
    scope: String(raw.scope ?? ""),
    identity_hash: String(raw.identity_hash ?? ""),
    metadata: typeof raw.metadata === "object" && raw.metadata !== null
      ? raw.metadata as Record<string, unknown>
      : {},
    updated_at: String(raw.updated_at ?? ""),
  };
}

/**
 * Writes the record to a temporary file, syncs it, then links it into place:
 * `link()` fails when the name exists, so the claim is exclusive, and a
 * reader never sees an empty or half-written lock (which it would take for
 * corrupt and remove), as with the PID file.
 */
function createExclusive(path: string, record: CredentialLockRecord): boolean {
  const temp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    using file = Deno.openSync(temp, { write: true, createNew: true, mode: 0o600 });
    writeAllSync(file, new TextEncoder().encode(`${JSON.stringify(record)}\n`));
    file.syncSync();
    Deno.linkSync(temp, path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  } finally {
    try {
      Deno.removeSync(temp);
    } catch {
      // already gone
    }
  }
}

/**
 * Removes the temporary records ({@linkcode createExclusive}'s) of `path`
 * whose writer died before it could remove them (a kill -9 mid-claim).
 */
function removeDeadTemps(path: string): void {
  const slash = path.lastIndexOf("/");
  const folder = path.slice(0, slash);
  const prefix = `${path.slice(slash + 1)}.`;
  try {
    for (const entry of Deno.readDirSync(folder)) {
      if (!entry.name.startsWith(prefix) || !entry.name.endsWith(".tmp")) continue;
      const pid = Number(entry.name.slice(prefix.length).split(".")[0]);
      if (pid === Deno.pid || readIdentity(pid) !== undefined) continue; // its writer lives
      try {
        Deno.removeSync(`${folder}/${entry.name}`);
      } catch {
        // another claimer removed it first
      }
    }
  } catch {
    // an unreadable folder: the claim below says what is wrong
  }
}

/** Renames before deleting, so two cleaners never delete a fresh lock. */
async function removeStale(path: string): Promise<void> {
  const aside = `${path}.${Deno.pid}.stale`;
  try {
    await Deno.rename(path, aside);
    await Deno.remove(aside);
  } catch {
    // Someone else cleaned it first.
  }
}

async function identityHash(identity: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(identity));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
