/**
 * How far each half-sent reply part got (`<state dir>/send-progress.json`,
 * written atomically, mode 0600): the steps done, and the messages whose
 * formatting Telegram refused. Only parts of more than one step that
 * stopped halfway are in it, so a restart sends none of their steps again.
 *
 * @module
 */

import { writeJsonAtomic } from "../../util/atomic_file.ts";

/** How far a part got: steps done, and the messages whose formatting was refused. */
export interface Progress {
  done: number;
  plain: number[];
}

/**
 * The half-sent parts of one bot, by idempotency key, kept on disk.
 *
 * @example
 * ```ts
 * const progress = await SendProgress.load("/srv/hermes/platforms/telegram");
 * await progress.set("inbound:7#0", { done: 1, plain: [] });
 * await progress.delete("inbound:7#0");
 * ```
 */
export class SendProgress {
  readonly #path: string | undefined;
  readonly #parts: Map<string, Progress>;
  #saving: Promise<void> = Promise.resolve();

  private constructor(path: string | undefined, parts: Map<string, Progress>) {
    this.#path = path;
    this.#parts = parts;
  }

  /** Reads the file in `stateDir` (none, or unreadable: nothing is half sent). */
  static async load(stateDir: string): Promise<SendProgress> {
    const path = `${stateDir}/send-progress.json`;
    const parts = new Map<string, Progress>();
    try {
      const saved = JSON.parse(await Deno.readTextFile(path)) as Record<string, Progress>;
      for (const [key, value] of Object.entries(saved ?? {})) {
        if (Number.isInteger(value?.done) && Array.isArray(value.plain)) parts.set(key, value);
      }
    } catch {
      // none yet
    }
    return new SendProgress(path, parts);
  }

  /** Progress kept in memory only (tests, a sender without a state folder). */
  static inMemory(): SendProgress {
    return new SendProgress(undefined, new Map());
  }

  /** How far the part `key` got, if it stopped halfway. */
  get(key: string): Progress | undefined {
    const found = this.#parts.get(key);
    return found && { done: found.done, plain: [...found.plain] };
  }

  /** Records how far the part `key` got; resolves once it is on disk. */
  set(key: string, progress: Progress): Promise<void> {
    this.#parts.set(key, { done: progress.done, plain: [...progress.plain] });
    return this.#save();
  }

  /** Forgets the part `key` (sent, or given up). */
  delete(key: string): Promise<void> {
    if (!this.#parts.delete(key)) return this.#saving;
    return this.#save();
  }

  #save(): Promise<void> {
    const path = this.#path;
    if (!path) return Promise.resolve();
    const snapshot = Object.fromEntries(this.#parts);
    // One failed write must not fail every later one.
    this.#saving = this.#saving.catch(() => {}).then(async () => {
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
      await writeJsonAtomic(path, snapshot, { mode: 0o600 });
    });
    return this.#saving;
  }
}
