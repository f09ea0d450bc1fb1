/**
 * The media cache: files that came with messages (and files replies send),
 * in `$HERMES_HOME/media`, named by their SHA-256 (the same file is kept
 * once), mode 0600, written atomically. A size cap per file, and a cleanup
 * that removes files older than the age limit, then the oldest until the
 * folder is under its total cap.
 *
 * @module
 */

import { writeFileAtomic } from "../util/atomic_file.ts";
import type { Attachment } from "../platforms/event.ts";
import { extensionOf, kindOf, sniffMime } from "./sniff.ts";

/** Limits of the cache. */
export interface MediaLimits {
  /** Largest file accepted. */
  readonly maxFileBytes: number;
  /** The folder is trimmed to this, oldest first. */
  readonly maxTotalBytes: number;
  /** Files older than this are removed. */
  readonly maxAgeMs: number;
}

/** The default limits: 20 MB a file, 1 GB in all, 7 days. */
export const DEFAULT_MEDIA_LIMITS: MediaLimits = {
  maxFileBytes: 20 * 1024 * 1024,
  maxTotalBytes: 1024 * 1024 * 1024,
  maxAgeMs: 7 * 24 * 3600_000,
};

/** A file too large for the cache (or for a download). */
export class MediaTooLargeError extends Error {
  constructor(size: number, limit: number) {
    super(`The file is too large: ${size} bytes; the limit is ${limit} bytes`);
    this.name = "MediaTooLargeError";
  }
}

/**
 * The cache of one home.
 *
 * @example
 * ```ts
 * const bytes = await Deno.readFile("cat.png");
 * const media = new MediaCache("/srv/hermes/media");
 * const photo = await media.store(bytes, { name: "cat.png" }); // { kind: "image", mime: "image/png", path, size, name }
 * ```
 */
export class MediaCache {
  /** The folder the files are in. */
  readonly dir: string;
  readonly #limits: MediaLimits;

  constructor(dir: string, limits: MediaLimits = DEFAULT_MEDIA_LIMITS) {
    this.dir = dir;
    this.#limits = limits;
  }

  /** Keeps `bytes`; its type is sniffed from the bytes, never taken from the sender. */
  async store(bytes: Uint8Array, meta: { name?: string } = {}): Promise<Attachment> {
    if (bytes.length > this.#limits.maxFileBytes) {
      throw new MediaTooLargeError(bytes.length, this.#limits.maxFileBytes);
    }
    const mime = sniffMime(bytes);
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
    );
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = `${this.dir}/${hex}.${extensionOf(mime)}`;
    await writeFileAtomic(path, bytes, { mode: 0o600 });
    return {
      kind: kindOf(mime),
      mime,
      ...(meta.name ? { name: meta.name } : {}),
      size: bytes.length,
      path,
    };
  }

  /**
   * The bytes and type of the cache's file `name` (as in an attachment's
   * path), or undefined: only names the cache gives, never a path.
   */
  async open(name: string): Promise<{ bytes: Uint8Array; mime: string } | undefined> {
    if (!/^[0-9a-f]{64}\.[a-z0-9]{1,5}$/.test(name)) return undefined;
    try {
      const bytes = await Deno.readFile(`${this.dir}/${name}`);
      return { bytes, mime: sniffMime(bytes) };
    } catch {
      return undefined;
    }
  }

  /** Whether `path` is a file of this cache. */
  holds(path: string): boolean {
    return path.startsWith(`${this.dir}/`) && !path.slice(this.dir.length + 1).includes("/");
  }

  /** Removes files past the age limit, then the oldest beyond the total cap; returns how many. */
  async cleanup(now = Date.now()): Promise<number> {
    let files: { path: string; size: number; mtime: number }[] = [];
    try {
      for await (const entry of Deno.readDir(this.dir)) {
        if (!entry.isFile) continue;
        const path = `${this.dir}/${entry.name}`;
        const info = await Deno.stat(path);
        files.push({ path, size: info.size, mtime: info.mtime?.getTime() ?? 0 });
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return 0;
      throw error;
    }
    let removed = 0;
    const remove = async (path: string) => {
      await Deno.remove(path).catch(() => {});
      removed++;
    };
    for (const file of files.filter((f) => now - f.mtime > this.#limits.maxAgeMs)) {
      await remove(file.path);
    }
    files = files.filter((f) => now - f.mtime <= this.#limits.maxAgeMs)
      .sort((a, b) => a.mtime - b.mtime);
    let total = files.reduce((sum, f) => sum + f.size, 0);
    for (const file of files) {
      if (total <= this.#limits.maxTotalBytes) break;
      await remove(file.path);
      total -= file.size;
    }
    return removed;
  }
}
