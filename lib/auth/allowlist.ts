/**
 * Allowlists of user and group ids: entries as operators write them
 * (`Alice`, `local:alice`, `user:alice`, `group:team`, `*`) compared with the
 * ids platforms send, exactly or without regard to case, as the platform
 * declares (`idsFoldCase`).
 *
 * @module
 */

const KIND_PREFIXES = ["user:", "group:"];

/**
 * The form in which an id a platform sent is compared: trimmed, and lower
 * case when the platform's ids fold case.
 *
 * @example
 * ```ts
 * comparableId(" Alice ", true);  // "alice"
 * comparableId("Alice", false);   // "Alice"
 * ```
 */
export function comparableId(id: string, foldCase: boolean): string {
  const trimmed = id.trim();
  return foldCase ? trimmed.toLowerCase() : trimmed;
}

/**
 * The comparable form of an allowlist entry of `platform`: trimmed, without
 * a leading `<platform>:` and then `user:` or `group:` (prefixes in any
 * case), and lower case when the platform's ids fold case.
 *
 * @example
 * ```ts
 * normaliseId(" Local:User:Alice ", "local", false); // "Alice"
 * normaliseId("group:Team", "wecom", true);          // "team"
 * ```
 */
export function normaliseId(entry: string, platform: string, foldCase: boolean): string {
  let id = entry.trim();
  const own = `${platform.toLowerCase()}:`;
  if (id.toLowerCase().startsWith(own)) id = id.slice(own.length);
  const kind = KIND_PREFIXES.find((prefix) => id.toLowerCase().startsWith(prefix));
  if (kind) id = id.slice(kind.length);
  return comparableId(id, foldCase);
}

/**
 * A set of ids of one platform; `*` admits everyone. `foldCase` says whether
 * the platform's ids ignore case.
 *
 * @example
 * ```ts
 * const list = new Allowlist(["Alice", "local:bob"], "local", { foldCase: false });
 * list.has("Alice"); // true
 * list.has("alice"); // false
 * new Allowlist(["Alice"], "wecom", { foldCase: true }).has("alice"); // true
 * ```
 */
export class Allowlist {
  readonly #ids: ReadonlySet<string>;
  readonly #foldCase: boolean;
  /** Whether the list holds `*`. */
  readonly everyone: boolean;

  constructor(entries: readonly string[], platform: string, options: { foldCase: boolean }) {
    this.#foldCase = options.foldCase;
    this.#ids = new Set(
      entries.map((entry) => normaliseId(entry, platform, options.foldCase)).filter(Boolean),
    );
    this.everyone = this.#ids.has("*");
  }

  /** The ids on the list, in their comparable form (`*` left out). */
  get ids(): string[] {
    return [...this.#ids].filter((id) => id !== "*");
  }

  /** Whether the list holds no entry at all. */
  get empty(): boolean {
    return this.#ids.size === 0;
  }

  /** Whether `id` (as the platform sends it) is on the list. */
  has(id: string | undefined): boolean {
    if (this.everyone) return true;
    if (id === undefined) return false;
    return this.#ids.has(comparableId(id, this.#foldCase));
  }
}
