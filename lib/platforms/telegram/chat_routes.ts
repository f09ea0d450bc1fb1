/**
 * What the bot learned about chats and must not forget on a restart
 * (`<state dir>/chats.json`, written atomically, mode 0600): groups that
 * became supergroups (sends follow them to the new id) and chats whose user
 * blocked the bot or that removed it (listed in status until they let it back).
 * Each list keeps {@linkcode MAX_CHAT_ROUTES}: the migrations used most
 * recently (a supergroup that still talks keeps its group's sessions; one
 * pushed out is learnt again from Telegram's next "migrated" answer to a
 * send), and the newest blocks (one pushed out is learnt from the next 403).
 *
 * @module
 */

import { asState, type PlatformState, writeStateJson } from "../platform_state.ts";
import { BoundedMap } from "../../util/bounded_map.ts";

/** The name it is kept under in the platform's state. */
const FILE = "chats.json";

/** Most migrations, and most blocked chats, kept. */
export const MAX_CHAT_ROUTES = 10_000;

interface Saved {
  migrated: Record<string, string>;
  blocked: string[];
}

/**
 * The chats' routes and blocks of one bot, kept on disk.
 *
 * @example
 * ```ts
 * const routes = await ChatRoutes.load("/srv/hermes/platforms/telegram");
 * await routes.migrate("-4012", "-1004012");
 * routes.target("-4012"); // "-1004012"
 * routes.origin("-1004012"); // "-4012"
 * ```
 */
export class ChatRoutes {
  /** Where it is kept (none: in memory only). */
  readonly #state: PlatformState | undefined;
  /** Group → supergroup; a route in use moves to the back, so the cap drops the idle ones. */
  readonly #migrated: BoundedMap<string, string>;
  /** Supergroup → group, the reverse of `#migrated`. */
  readonly #origins = new Map<string, string>();
  readonly #blocked: BoundedMap<string, true>;
  #saving: Promise<void> = Promise.resolve();

  private constructor(state: PlatformState | undefined, saved: Saved) {
    this.#state = state;
    this.#migrated = new BoundedMap(MAX_CHAT_ROUTES, [], {
      onEvict: (_from, to) => this.#origins.delete(to),
    });
    for (const [from, to] of Object.entries(saved.migrated)) this.#route(from, to);
    this.#blocked = new BoundedMap(MAX_CHAT_ROUTES, saved.blocked.map((id) => [id, true]));
  }

  /** Reads `chats.json` of the platform's state (none, or unreadable: nothing learned yet). */
  static async load(where: string | PlatformState): Promise<ChatRoutes> {
    const state = asState(where);
    let saved: Saved = { migrated: {}, blocked: [] };
    try {
      const read = JSON.parse(await state.readText(FILE) ?? "null") as Partial<Saved>;
      saved = {
        migrated: typeof read.migrated === "object" && read.migrated !== null ? read.migrated : {},
        blocked: Array.isArray(read.blocked) ? read.blocked.map(String) : [],
      };
    } catch {
      // none yet
    }
    return new ChatRoutes(state, saved);
  }

  /** Routes kept in memory only (tests, a sender without a state folder). */
  static inMemory(): ChatRoutes {
    return new ChatRoutes(undefined, { migrated: {}, blocked: [] });
  }

  /** The chat id sends to `chatId` go to now (its supergroup's, after a migration). */
  target(chatId: string): string {
    const to = this.#migrated.get(chatId);
    if (to !== undefined) this.#route(chatId, to);
    return to ?? chatId;
  }

  /**
   * The chat id a chat's sessions go by: a supergroup that was a group keeps
   * the group's, so its conversations go on where they were.
   */
  origin(chatId: string): string {
    const from = this.#origins.get(chatId);
    if (from !== undefined) this.#route(from, chatId);
    return from ?? chatId;
  }

  /** Chats that blocked or removed the bot. */
  get blocked(): string[] {
    return [...this.#blocked.keys()];
  }

  /** Records that group `from` is now supergroup `to`. */
  migrate(from: string, to: string): Promise<void> {
    this.#route(from, to);
    return this.#save();
  }

  /** Sets (or refreshes, as the most recently used) the route of group `from`. */
  #route(from: string, to: string): void {
    const before = this.#migrated.get(from);
    if (before !== undefined) this.#origins.delete(before);
    this.#migrated.delete(from);
    this.#migrated.set(from, to);
    this.#origins.set(to, from);
  }

  /** Records that `chatId` blocked or removed the bot, or let it back. */
  setBlocked(chatId: string, blocked: boolean): Promise<void> {
    const changed = blocked ? !this.#blocked.has(chatId) : this.#blocked.has(chatId);
    if (!changed) return this.#saving;
    if (blocked) this.#blocked.set(chatId, true);
    else this.#blocked.delete(chatId);
    return this.#save();
  }

  #save(): Promise<void> {
    const state = this.#state;
    if (!state) return Promise.resolve();
    const snapshot: Saved = { migrated: Object.fromEntries(this.#migrated), blocked: this.blocked };
    // One failed write must not fail every later one.
    this.#saving = this.#saving.catch(() => {}).then(async () => {
      await writeStateJson(state, FILE, snapshot);
    });
    return this.#saving;
  }
}
