/**
 * Allowlists of user and group ids: entries as operators write them
 * (`Alice`, `local:alice`, `user:alice`, `group:team`, `*`) compared with the
 * ids platforms send, without regard to case.
 *
 * @module
 */

const KIND_PREFIXES = ["user:", "group:"];

/**
 * The comparable form of an allowlist entry of `platform`: trimmed, lower
 * case, without a leading `<platform>:` and then `user:` or `group:`.
 *
 * @example
 * ```ts
 * normaliseId(" Local:User:Alice ", "local"); // "alice"
 * normaliseId("group:Team", "wecom");          // "team"
 * ```
 */
export function normaliseId(entry: string, platform: string): string {
  let id = entry.trim().toLowerCase();
  const own = `${platform.toLowerCase()}:`;
  if (id.startsWith(own)) id = id.slice(own.length);
  const kind = KIND_PREFIXES.find((prefix) => id.startsWith(prefix));
  if (kind) id = id.slice(kind.length);
  return id.trim();
}

/**
 * A set of ids of one platform; `*` admits everyone.
 *
 * @example
 * ```ts
 * const list = new Allowlist(["Alice", "local:bob"], "local");
 * list.has("alice"); // true
 * list.has("carol"); // false
 * ```
 */
export class Allowlist {
  readonly #ids: ReadonlySet<string>;
  readonly #platform: string;
  /** Whether the list holds `*`. */
  readonly everyone: boolean;

  constructor(entries: readonly string[], platform: string) {
    this.#platform = platform;
    this.#ids = new Set(entries.map((entry) => normaliseId(entry, platform)).filter(Boolean));
    this.everyone = this.#ids.has("*");
  }

  /** Whether the list holds no entry at all. */
  get empty(): boolean {
    return this.#ids.size === 0;
  }

  /** Whether `id` (as the platform sends it) is on the list. */
  has(id: string | undefined): boolean {
    if (this.everyone) return true;
    if (id === undefined) return false;
    return this.#ids.has(id.trim().toLowerCase());
  }
}
