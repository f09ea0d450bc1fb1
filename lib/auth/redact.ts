/**
 * PII redaction for the agent: with `agent.redact_pii`, the user, chat and
 * thread ids an agent sees (in its turn's source and session key, so also
 * the OpenAI `user` field and the command provider's JSON) are a stable
 * 12-hex hash. Routing and storage keep the real ids.
 *
 * The hash is an HMAC-SHA256 under a random key kept in the home
 * (`redaction.key`, 0600), so it is stable across restarts yet cannot be
 * reversed by hashing candidate ids (phone numbers are few enough to try).
 *
 * @module
 */

import { createHmac } from "node:crypto";
import type { SessionSource } from "../platforms/event.ts";
import { writeFileAtomic } from "../util/atomic_file.ts";

/** Replaces ids with their hashes. */
export class IdRedactor {
  readonly #key: string;

  constructor(key: string) {
    this.#key = key;
  }

  /**
   * The redactor of a home: reads its key, or creates one on first use.
   *
   * @example
   * ```ts
   * import { hermesPaths } from "../config/home.ts";
   * const redactor = await IdRedactor.load(hermesPaths("/srv/hermes").redactionKey);
   * ```
   */
  static async load(path: string): Promise<IdRedactor> {
    try {
      const key = (await Deno.readTextFile(path)).trim();
      if (/^[0-9a-f]{64}$/.test(key)) return new IdRedactor(key);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const key = [...crypto.getRandomValues(new Uint8Array(32))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    await writeFileAtomic(path, `${key}\n`, { mode: 0o600 });
    return new IdRedactor(key);
  }

  /**
   * The 12-hex hash of `id` on `platform`.
   *
   * @example
   * ```ts
   * new IdRedactor("k".repeat(64)).hash("wecom", "alice"); // e.g. "3f9a0c1d2e4b"
   * ```
   */
  hash(platform: string, id: string): string {
    return createHmac("sha256", this.#key).update(`${platform}\u0000${id}`).digest("hex")
      .slice(0, 12);
  }

  /** `source` with its chat, thread and user ids hashed. */
  source(source: SessionSource): SessionSource {
    const hash = (id: string) => this.hash(source.platform, id);
    return {
      platform: source.platform,
      chatType: source.chatType,
      chatId: hash(source.chatId),
      ...(source.threadId ? { threadId: hash(source.threadId) } : {}),
      ...(source.userId ? { userId: hash(source.userId) } : {}),
    };
  }
}
