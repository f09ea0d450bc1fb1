/**
 * Atomic file writes: a reader (or a process started after a `kill -9`) sees
 * either the old content or the new, never a torn mix.
 *
 * The recipe: write a temporary file in the same folder (so the rename stays
 * on one file system), fsync it, rename it over the target, then fsync the
 * folder so the rename itself survives a power cut.
 *
 * @module
 */

/** Options of {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of the new file. Default `0o600`: the home's files are the gateway's alone. */
  mode?: number;
}

/**
 * Replaces `path` with `data` atomically.
 *
 * @example
 * ```ts
 * await writeFileAtomic("/srv/hermes/pairing.json", "{}", { mode: 0o600 });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const folder = parentFolder(path);
  const temp = `${folder}/.${baseName(path)}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const mode = options.mode ?? 0o600;
  try {
    using file = await Deno.open(temp, { write: true, createNew: true, mode });
    // The mode given to open() passes through the umask; set it exactly.
    await Deno.chmod(temp, mode);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  try {
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await syncFolder(folder);
}

/**
 * Writes `value` as pretty JSON (with a final newline) atomically.
 *
 * @example
 * ```ts
 * await writeJsonAtomic("/srv/hermes/gateway_state.json", { state: "running" });
 * ```
 */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, options);
}

async function syncFolder(folder: string): Promise<void> {
  if (Deno.build.os === "windows") return; // folders cannot be opened for fsync there
  try {
    using dir = await Deno.open(folder, { read: true });
    await dir.sync();
  } catch {
    // Some file systems refuse fsync on folders; the rename is still atomic.
  }
}

function parentFolder(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
