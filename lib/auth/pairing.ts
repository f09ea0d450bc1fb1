/**
 * The pairing store: how a stranger becomes a user without the operator
 * editing files. A stranger's DM gets an 8-character code; the operator runs
 * `hermes pair approve CODE`; the user is approved.
 *
 * Files in `<home>/platforms/pairing/` (the layout of the established
 * gateway, so its approvals carry over): `<platform>-pending.json`,
 * `<platform>-approved.json`, `_rate_limits.json`. Codes are never stored,
 * only `sha256(salt ‖ code)` with a random salt per entry, compared in
 * constant time. Every change happens under an exclusive flock on `.lock`
 * (many processes may approve and request at once) and is written
 * atomically with mode 0600. A file that cannot be read is never
 * overwritten: changes are refused with an error naming it. On
 * `storage.backend: postgres` the same documents are rows of the shared
 * database instead (`PgPairingDocuments`), so every gateway of a pool and
 * every host's CLI see one set of codes, approvals and lockouts.
 *
 * Limits: codes live 1 h; one request per user per 10 min; at most 3
 * pending requests per platform; 5 wrong codes lock a platform's approvals
 * for 1 h.
 *
 * Ids are compared as the platform declares (`idsFoldCase`): exactly, or
 * without regard to case. Stored ids are kept as they were written (by this
 * or an older version, or the reference gateway): on a platform that folds
 * case an approval of `Alice` admits `alice`; on one that does not, only the
 * exact id is admitted, and a sender whose id differs from an approved one
 * only in case is logged once with the command that approves them.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { Logger } from "../util/log.ts";
import { comparableId } from "./allowlist.ts";
import { hashCode, matchesCode, randomCode, randomHex } from "./pairing_code.ts";
import {
  type LockedPairingDocuments,
  type PairingDocuments,
  PairingFiles,
} from "./pairing_documents.ts";

/** Seconds a code stays valid. */
export const CODE_TTL_S = 3600;
/** Seconds between two requests of one user. */
export const REQUEST_INTERVAL_S = 600;
/** Seconds approvals of a platform stay locked after too many wrong codes. */
export const LOCKOUT_S = 3600;
/** Wrong codes that lock a platform's approvals. */
export const MAX_FAILED_APPROVALS = 5;
/** Pending requests one platform may hold. */
export const MAX_PENDING_PER_PLATFORM = 3;

/** A pending request as `hermes pair list` shows it (never with its code). */
export interface PendingRequest {
  readonly platform: string;
  readonly requestId: string;
  readonly userId: string;
  readonly userName?: string;
  readonly createdAt: Date;
  readonly ageMinutes: number;
}

/** An approved user. */
export interface ApprovedUser {
  readonly platform: string;
  readonly userId: string;
  readonly userName?: string;
  readonly approvedAt: Date;
  /** The DM chat to tell them in, when it is not their user id. */
  readonly chatId?: string;
}

/** A platform whose approvals are locked. */
export interface Lockout {
  readonly platform: string;
  readonly until: Date;
  readonly minutesLeft: number;
}

/** What a stranger's request came to. */
export type CodeRequest =
  | { readonly kind: "code"; readonly code: string; readonly requestId: string }
  | { readonly kind: "rate_limited" }
  | { readonly kind: "too_many" }
  | { readonly kind: "locked"; readonly lockout: Lockout };

/** What an approval came to. */
export type Approval =
  | { readonly kind: "approved"; readonly user: ApprovedUser }
  | {
    readonly kind: "not_found";
    /** The platforms searched. */
    readonly searched: readonly string[];
    /** Lockouts this failure started. */
    readonly lockedNow: readonly Lockout[];
  }
  | { readonly kind: "locked"; readonly lockouts: readonly Lockout[] };

interface PendingEntry {
  hash?: string;
  salt?: string;
  user_id: string;
  user_name?: string;
  chat_id?: string;
  created_at: number;
}

interface ApprovedEntry {
  user_name?: string;
  approved_at: number;
  chat_id?: string;
  /** Set until the gateway told the user they are approved. */
  notify?: boolean;
}

/** An approved file as last read: what `stat` said of it, and its index. */
interface CachedApproved {
  readonly stamp: string;
  /** Comparable id → the stored ids it stands for. */
  readonly index: Map<string, string[]>;
  /** The same, folded, built only when a sender is not found on an exact platform. */
  folded?: Map<string, string[]>;
  /** Senders already warned about for this version of the file. */
  readonly warned: Set<string>;
}

/** Case-mismatch warnings per file version, at most (a flood of strangers logs no more). */
const MAX_CASE_WARNINGS = 100;

type Pending = Record<string, PendingEntry>;
type Approved = Record<string, ApprovedEntry>;
type Limits = Record<string, number>;

/** The document of request times, failure counts and lockouts. */
const LIMITS = "_rate_limits";

const PLATFORM_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const DOCUMENT_NAME = /^([a-z0-9][a-z0-9_-]{0,63})-(pending|approved)$/;

/** What a {@linkcode PairingStore} is given besides its folder. */
export interface PairingStoreOptions {
  readonly now?: () => Date;
  readonly log?: Logger;
  /**
   * Reads a file's metadata (default `Deno.stat`); the lookup of an
   * approved user stats its file first. A test makes it slow here.
   */
  readonly stat?: (path: string) => Promise<Deno.FileInfo>;
  /**
   * Whether a platform's ids ignore case (the registry's `idsFoldCase`);
   * without it every platform's ids ignore case, as the registry says of a
   * platform that does not declare it.
   */
  readonly idsFoldCase?: (platform: string) => boolean;
}

/**
 * Creates codes, approves and revokes users; see the module doc.
 *
 * @example
 * ```ts
 * import { hermesPaths } from "../config/home.ts";
 * const store = new PairingStore(hermesPaths("/srv/hermes").pairingDir);
 * const request = await store.requestCode("local", "alice", { userName: "Alice" });
 * if (request.kind === "code") await store.approveCode(request.code); // { kind: "approved", ... }
 * ```
 */
export class PairingStore {
  /** Where the documents are (a folder, or the database). */
  readonly dir: string;
  readonly #docs: PairingDocuments;
  readonly #now: () => Date;
  readonly #log: Logger | undefined;
  readonly #foldCase: (platform: string) => boolean;
  /** The last approved file read per platform, keyed by what `stat` says of it. */
  readonly #approvedCache = new Map<string, CachedApproved>();

  /** `where`: the pairing folder (files), or documents elsewhere (a pool's database). */
  constructor(where: string | PairingDocuments, options: PairingStoreOptions = {}) {
    this.#docs = typeof where === "string"
      ? new PairingFiles(where, { stat: options.stat })
      : where;
    this.dir = this.#docs.where;
    this.#now = options.now ?? (() => new Date());
    this.#log = options.log;
    this.#foldCase = options.idsFoldCase ?? (() => true);
  }

  /** Where the document of request limits and lockouts is, for a person to edit it. */
  get limitsLocation(): string {
    return this.#docs.locate(LIMITS);
  }

  /**
   * A code for a stranger, unless they asked within 10 minutes
   * (`rate_limited`), the platform has 3 pending requests (`too_many`) or its
   * approvals are locked (`locked`). A user's newer code replaces the older.
   */
  async requestCode(
    platform: string,
    userId: string,
    details: { userName?: string; chatId?: string } = {},
  ): Promise<CodeRequest> {
    checkPlatform(platform);
    return await this.#docs.locked(async (docs) => {
      const now = this.#seconds();
      const limits = await docs.read<Limits>(LIMITS);
      const same = this.#sameUser(platform, userId);
      const userKey = `${platform}:${this.#comparable(platform, userId)}`;
      const last = limits[userKey];
      if (typeof last === "number" && now - last < REQUEST_INTERVAL_S) {
        return { kind: "rate_limited" };
      }
      limits[userKey] = now;
      pruneLimits(limits, now);
      const lockout = lockoutOf(limits, platform, now);
      const path = this.#pendingPath(platform);
      const pending = prunePending(await docs.read<Pending>(path), now);
      for (const [id, entry] of Object.entries(pending)) {
        if (same(entry.user_id)) delete pending[id];
      }
      if (lockout || Object.keys(pending).length >= MAX_PENDING_PER_PLATFORM) {
        await docs.write(LIMITS, limits);
        return lockout ? { kind: "locked", lockout } : { kind: "too_many" };
      }
      const code = randomCode();
      const salt = randomHex(16);
      const requestId = randomHex(8);
      pending[requestId] = {
        hash: await hashCode(salt, code),
        salt,
        user_id: userId,
        ...(details.userName ? { user_name: details.userName } : {}),
        ...(details.chatId && details.chatId !== userId ? { chat_id: details.chatId } : {}),
        created_at: now,
      };
      await docs.write(path, pending);
      await docs.write(LIMITS, limits);
      return { kind: "code", code, requestId };
    });
  }

  /**
   * Approves the user whose pending request has `code` (any case, spaces
   * trimmed), on `platform` or, without it, on every platform with pending
   * requests. A locked platform is refused; a wrong code counts against
   * the platforms searched.
   */
  async approveCode(code: string, platform?: string): Promise<Approval> {
    if (platform !== undefined) checkPlatform(platform);
    const wanted = code.trim().toUpperCase();
    return await this.#docs.locked(async (docs) => {
      const now = this.#seconds();
      const limits = await docs.read<Limits>(LIMITS);
      const candidates = platform ? [platform] : await this.#platformsWithPending();
      const lockouts = candidates.flatMap((p) => lockoutOf(limits, p, now) ?? []);
      if (platform && lockouts.length > 0) return { kind: "locked", lockouts };
      const open = candidates.filter((p) => !lockouts.some((l) => l.platform === p));
      for (const p of open) {
        const pending = prunePending(await docs.read<Pending>(this.#pendingPath(p)), now);
        const found = await findByCode(pending, wanted);
        if (!found) continue;
        delete limits[`_failures:${p}`];
        const user = await this.#approve(docs, p, pending, found[0], now);
        await docs.write(LIMITS, limits);
        return { kind: "approved", user };
      }
      const lockedNow: Lockout[] = [];
      for (const p of open) {
        const failures = (limits[`_failures:${p}`] ?? 0) + 1;
        if (failures >= MAX_FAILED_APPROVALS) {
          delete limits[`_failures:${p}`];
          limits[`_lockout:${p}`] = now + LOCKOUT_S;
          lockedNow.push(lockoutOf(limits, p, now)!);
        } else {
          limits[`_failures:${p}`] = failures;
        }
      }
      if (open.length > 0) await docs.write(LIMITS, limits);
      if (lockouts.length > 0) return { kind: "locked", lockouts };
      return { kind: "not_found", searched: candidates, lockedNow };
    });
  }

  /** Approves a pending request by its id (the operator's path: no lockout, no failure count). */
  async approveRequest(requestId: string, platform?: string): Promise<Approval> {
    if (platform !== undefined) checkPlatform(platform);
    const wanted = requestId.trim().toLowerCase();
    return await this.#docs.locked(async (docs) => {
      const now = this.#seconds();
      const candidates = platform ? [platform] : await this.#platformsWithPending();
      for (const p of candidates) {
        const pending = prunePending(await docs.read<Pending>(this.#pendingPath(p)), now);
        if (!Object.hasOwn(pending, wanted)) continue;
        return { kind: "approved", user: await this.#approve(docs, p, pending, wanted, now) };
      }
      return { kind: "not_found", searched: candidates, lockedNow: [] };
    });
  }

  /** Approves `userId` on `platform` directly (when the code never reached them). */
  async approveUser(platform: string, userId: string): Promise<ApprovedUser> {
    checkPlatform(platform);
    return await this.#docs.locked(async (docs) => {
      const now = this.#seconds();
      const path = this.#pendingPath(platform);
      const pending = prunePending(await docs.read<Pending>(path), now);
      const same = this.#sameUser(platform, userId);
      const found = Object.entries(pending).find(([, e]) => same(e.user_id));
      if (found) return await this.#approve(docs, platform, pending, found[0], now);
      return await this.#addApproved(docs, platform, userId, {}, now);
    });
  }

  /**
   * Whether `userId` is approved on `platform` (an unreadable file reads as
   * empty). Asked for every message, so the file is parsed and indexed again
   * only when it changed (every write, this process's or another's such as
   * `hermes pair approve`, is a rename: a new inode and time); a lookup is
   * one map access, however many users are approved.
   */
  async isApproved(platform: string, userId: string): Promise<boolean> {
    if (!PLATFORM_NAME.test(platform)) return false;
    const path = this.#approvedPath(platform);
    const stamp = await this.#docs.stamp(path);
    let cached = this.#approvedCache.get(platform);
    if (cached?.stamp !== stamp) {
      const approved = await this.#docs.readOrEmpty<Approved>(path, this.#log);
      cached = { stamp, index: this.#index(platform, approved), warned: new Set() };
      this.#approvedCache.set(platform, cached);
    }
    if (cached.index.has(this.#comparable(platform, userId))) return true;
    this.#warnCaseMismatch(platform, userId, cached);
    return false;
  }

  /**
   * Removes an approved user (every stored id that names them, on a platform
   * whose ids fold case); returns their stored id, or undefined when they
   * were not approved.
   */
  async revoke(platform: string, userId: string): Promise<string | undefined> {
    checkPlatform(platform);
    return await this.#docs.locked(async (docs) => {
      const path = this.#approvedPath(platform);
      const approved = await docs.read<Approved>(path);
      const keys = this.#index(platform, approved).get(this.#comparable(platform, userId)) ??
        (Object.hasOwn(approved, userId) ? [userId] : []);
      if (keys.length === 0) return undefined;
      for (const key of keys) delete approved[key];
      await docs.write(path, approved);
      return keys[0];
    });
  }

  /** Pending requests (expired ones left out), oldest first. */
  async listPending(platform?: string): Promise<PendingRequest[]> {
    const now = this.#seconds();
    const rows: PendingRequest[] = [];
    for (const p of platform ? [platform] : await this.#platformsWithPending()) {
      const pending = prunePending(
        await this.#docs.readOrEmpty<Pending>(this.#pendingPath(p), this.#log),
        now,
      );
      for (const [requestId, entry] of Object.entries(pending)) {
        rows.push({
          platform: p,
          requestId,
          userId: entry.user_id,
          ...(entry.user_name ? { userName: entry.user_name } : {}),
          createdAt: new Date(entry.created_at * 1000),
          ageMinutes: Math.floor((now - entry.created_at) / 60),
        });
      }
    }
    return rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /** Approved users, by platform. */
  async listApproved(platform?: string): Promise<ApprovedUser[]> {
    const rows: ApprovedUser[] = [];
    for (const p of platform ? [platform] : await this.#platforms("approved")) {
      const approved = await this.#docs.readOrEmpty<Approved>(this.#approvedPath(p), this.#log);
      for (const [userId, entry] of Object.entries(approved)) {
        rows.push(approvedUser(p, userId, entry));
      }
    }
    return rows;
  }

  /** Platforms whose approvals are locked now. */
  async lockouts(): Promise<Lockout[]> {
    const now = this.#seconds();
    const limits = await this.#docs.readOrEmpty<Limits>(LIMITS, this.#log);
    return Object.keys(limits)
      .filter((key) => key.startsWith("_lockout:"))
      .flatMap((key) => lockoutOf(limits, key.slice("_lockout:".length), now) ?? []);
  }

  /** Drops pending requests of `platform` (or all); returns how many. */
  async clearPending(platform?: string): Promise<number> {
    if (platform !== undefined) checkPlatform(platform);
    return await this.#docs.locked(async (docs) => {
      let count = 0;
      for (const p of platform ? [platform] : await this.#platforms("pending")) {
        const path = this.#pendingPath(p);
        const pending = await docs.read<Pending>(path);
        const n = Object.keys(pending).length;
        if (n === 0) continue;
        count += n;
        await docs.write(path, {});
      }
      return count;
    });
  }

  /** Approved users not yet told so (the gateway tells them). */
  async awaitingNotice(): Promise<ApprovedUser[]> {
    const rows: ApprovedUser[] = [];
    for (const p of await this.#platforms("approved")) {
      const approved = await this.#docs.readOrEmpty<Approved>(this.#approvedPath(p), this.#log);
      for (const [userId, entry] of Object.entries(approved)) {
        if (entry.notify === true) rows.push(approvedUser(p, userId, entry));
      }
    }
    return rows;
  }

  /** Records that `userId` was told they are approved. */
  async noticeDelivered(platform: string, userId: string): Promise<void> {
    checkPlatform(platform);
    return await this.#docs.locked(async (docs) => {
      const path = this.#approvedPath(platform);
      const approved = await docs.read<Approved>(path);
      const entry = approved[userId];
      if (!entry?.notify) return;
      delete entry.notify;
      await docs.write(path, approved);
    });
  }

  /** Moves a pending entry to the approved users. */
  async #approve(
    docs: LockedPairingDocuments,
    platform: string,
    pending: Pending,
    requestId: string,
    now: number,
  ) {
    const entry = pending[requestId]!;
    delete pending[requestId];
    await docs.write(this.#pendingPath(platform), pending);
    return await this.#addApproved(docs, platform, entry.user_id, entry, now);
  }

  async #addApproved(
    docs: LockedPairingDocuments,
    platform: string,
    userId: string,
    from: { user_name?: string; chat_id?: string },
    now: number,
  ): Promise<ApprovedUser> {
    const path = this.#approvedPath(platform);
    const approved = await docs.read<Approved>(path);
    const entry: ApprovedEntry = {
      ...(from.user_name ? { user_name: from.user_name } : {}),
      approved_at: now,
      ...(from.chat_id ? { chat_id: from.chat_id } : {}),
      notify: true,
    };
    approved[userId] = entry;
    await docs.write(path, approved);
    return approvedUser(platform, userId, entry);
  }

  /** The form in which ids of `platform` are compared. */
  #comparable(platform: string, userId: string): string {
    return comparableId(userId, this.#foldCase(platform));
  }

  /** Whether a stored id names `userId` on `platform`. */
  #sameUser(platform: string, userId: string): (stored: string) => boolean {
    const wanted = this.#comparable(platform, userId);
    return (stored) => this.#comparable(platform, stored) === wanted;
  }

  /** The approved users of `platform` by comparable id, with the stored ids each stands for. */
  #index(platform: string, approved: Approved): Map<string, string[]> {
    const index = new Map<string, string[]>();
    for (const key of Object.keys(approved)) {
      const id = this.#comparable(platform, key);
      const keys = index.get(id);
      if (keys) keys.push(key);
      else index.set(id, [key]);
    }
    return index;
  }

  /**
   * On a platform whose ids are exact, an approval stored in another case
   * (typed by hand, or by a version that ignored case) no longer admits the
   * sender: say so once per sender and file version, with the fix.
   */
  #warnCaseMismatch(platform: string, userId: string, cached: CachedApproved): void {
    if (this.#foldCase(platform) || !this.#log || cached.warned.size >= MAX_CASE_WARNINGS) return;
    if (cached.warned.has(userId)) return;
    cached.folded ??= foldedIndex(cached.index);
    const stored = cached.folded.get(comparableId(userId, true));
    if (!stored) return;
    cached.warned.add(userId);
    this.#log.warn("sender differs from an approved user only in case; not admitted", {
      platform,
      user: userId,
      approved: stored.join(", "),
      hint:
        `${platform} ids are case-sensitive; if this is the same user, run: hermes pair approve --user ${platform}:${userId}`,
    });
  }

  #pendingPath(platform: string): string {
    return `${platform}-pending`;
  }

  #approvedPath(platform: string): string {
    return `${platform}-approved`;
  }

  #seconds(): number {
    return this.#now().getTime() / 1000;
  }

  async #platformsWithPending(): Promise<string[]> {
    return await this.#platforms("pending");
  }

  /** Platforms that have a document of `kind`, sorted. */
  async #platforms(kind: "pending" | "approved"): Promise<string[]> {
    const names: string[] = [];
    for (const name of await this.#docs.names()) {
      const match = DOCUMENT_NAME.exec(name);
      if (match?.[2] === kind) names.push(match[1]!);
    }
    return names.sort();
  }
}

/** The pending entry whose code is `code`, with its request id. */
async function findByCode(pending: Pending, code: string) {
  for (const found of Object.entries(pending)) {
    if (await matchesCode(found[1], code)) return found;
  }
  return undefined;
}

/** Drops expired and malformed entries. */
function prunePending(pending: Pending, now: number): Pending {
  const kept: Pending = {};
  for (const [id, entry] of Object.entries(pending)) {
    if (typeof entry !== "object" || entry === null) continue;
    if (typeof entry.user_id !== "string" || typeof entry.created_at !== "number") continue;
    if (!Number.isFinite(entry.created_at) || now - entry.created_at > CODE_TTL_S) continue;
    kept[id] = entry;
  }
  return kept;
}

/** Drops request times older than the interval and lockouts that ended. */
function pruneLimits(limits: Limits, now: number): void {
  for (const [key, value] of Object.entries(limits)) {
    if (typeof value !== "number") delete limits[key];
    else if (
      key.startsWith("_lockout:")
        ? value <= now
        : !key.startsWith("_") && now - value >= REQUEST_INTERVAL_S
    ) {
      delete limits[key];
    }
  }
}

function lockoutOf(limits: Limits, platform: string, now: number): Lockout | undefined {
  const until = limits[`_lockout:${platform}`];
  if (typeof until !== "number" || until <= now) return undefined;
  return {
    platform,
    until: new Date(until * 1000),
    minutesLeft: Math.max(1, Math.ceil((until - now) / 60)),
  };
}

/** The stored ids of an exact index by their lower-case form. */
function foldedIndex(index: Map<string, string[]>): Map<string, string[]> {
  const folded = new Map<string, string[]>();
  for (const stored of index.values()) {
    for (const key of stored) {
      const id = comparableId(key, true);
      folded.set(id, [...folded.get(id) ?? [], key]);
    }
  }
  return folded;
}

function approvedUser(platform: string, userId: string, entry: ApprovedEntry): ApprovedUser {
  return {
    platform,
    userId,
    ...(entry.user_name ? { userName: entry.user_name } : {}),
    approvedAt: new Date((entry.approved_at ?? 0) * 1000),
    ...(entry.chat_id ? { chatId: entry.chat_id } : {}),
  };
}

function checkPlatform(platform: string): void {
  if (!PLATFORM_NAME.test(platform)) {
    throw new UsageError(
      `Invalid platform name "${platform}": use the lower-case name hermes shows, such as local or wecom`,
    );
  }
}
