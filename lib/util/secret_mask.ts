/**
 * Masks known secret values (tokens, keys, passwords) in any text before it
 * leaves the process: log lines, error messages, command output.
 *
 * @module
 */

/** What a masked secret is replaced with. */
export const MASK = "***";

/** Secrets shorter than this are not masked: masking "1" would garble every line. */
const MIN_SECRET_LENGTH = 4;

/**
 * Holds secret values and replaces each occurrence of one in a text by `***`.
 * Values are matched both as written and as they appear inside JSON strings.
 *
 * @example
 * ```ts
 * const masker = new SecretMasker(["s3cr3t-token"]);
 * masker.mask("token=s3cr3t-token"); // "token=***"
 * ```
 */
export class SecretMasker {
  #needles: string[] = [];

  constructor(secrets: Iterable<string> = []) {
    for (const secret of secrets) this.add(secret);
  }

  /** Adds a value to mask from now on; values under 4 characters are ignored. */
  add(secret: string): void {
    if (secret.length < MIN_SECRET_LENGTH) return;
    const inJson = JSON.stringify(secret).slice(1, -1);
    for (const needle of new Set([secret, inJson])) {
      if (!this.#needles.includes(needle)) this.#needles.push(needle);
    }
    // Longest first, so a secret that contains another is masked whole.
    this.#needles.sort((a, b) => b.length - a.length);
  }

  /** Returns `text` with every known secret replaced by `***`. */
  mask(text: string): string {
    let masked = text;
    for (const needle of this.#needles) {
      if (masked.includes(needle)) masked = masked.replaceAll(needle, MASK);
    }
    return masked;
  }
}
