/**
 * How far each half-sent reply part got (`<state dir>/send-progress.json`,
 * written atomically, mode 0600): the steps done, and the messages whose
 * formatting Telegram refused. Only parts of more than one step that
 * stopped halfway are in it, so a restart sends none of their steps again.
 *
 * @module
 */

import { asState, type PlatformState, writeStateJson } from "../platform_state.ts";

/** The name it is kept under in the platform's state. */
const FILE = "send-progress.json";

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
  /** Where it is kept (none: in memory only). */
  readonly #state: PlatformState | undefined;
  readonly #parts: Map<string, Progress>;
  #saving: Promise<void> = Promise.resolve();

  private constructor(state: PlatformState | undefined, parts: Map<string, Progress>) {
    this.#state = state;
    this.#parts = parts;
  }

  /** Reads `send-progress.json` of the platform's state (none, or unreadable: nothing is half sent). */
  static async load(where: string | PlatformState): Promise<SendProgress> {
    const state = asState(where);
    const parts = new Map<string, Progress>();
    try {
      const saved = JSON.parse(await state.readText(FILE) ?? "null") as Record<string, Progress>;
      for (const [key, value] of Object.entries(saved ?? {})) {
        if (Number.isInteger(value?.done) && Array.isArray(value.plain)) parts.set(key, value);
      }
    } catch {
      // none yet
    }
    return new SendProgress(state, parts);
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
    const state = this.#state;
    if (!state) return Promise.resolve();
    const snapshot = Object.fromEntries(this.#parts);
    // One failed write must not fail every later one.
    this.#saving = this.#saving.catch(() => {}).then(async () => {
      await writeStateJson(state, FILE, snapshot);
    });
    return this.#saving;
  }
}
