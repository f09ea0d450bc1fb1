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

/** Shapes of credentials nobody configured here but a provider may echo: keys, tokens, passwords. */
const CREDENTIAL_SHAPES: readonly [RegExp, string][] = [
  [/\b(Bearer|Basic|Token)(\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1$2${MASK}`],
  [/\b(sk|pk|rk)-[A-Za-z0-9_-]{8,}/g, `$1-${MASK}`], // OpenAI, Anthropic, Stripe style keys
  [/\bAKIA[0-9A-Z]{16}\b/g, MASK], // AWS access key ids
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, MASK], // GitHub tokens
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, MASK], // Slack tokens
  [/\bAIza[0-9A-Za-z_-]{35}/g, MASK], // Google API keys
  [
    /\b((?:api[_-]?key|access[_-]?token|auth[_-]?token|secret|password|passwd|token)["']?\s*[:=]\s*["']?)[^\s"',;&]{6,}/gi,
    `$1${MASK}`,
  ],
];

/**
 * Masks what looks like a credential (API keys such as `sk-...`, bearer
 * tokens, `api_key=...`) in text from outside, such as a provider's error
 * body, before it is logged. Known secret values are the
 * {@linkcode SecretMasker}'s job; this catches the ones nobody configured.
 *
 * @example
 * ```ts
 * maskCredentials("Incorrect API key provided: sk-proj-abcdef123456"); // "Incorrect API key provided: sk-***"
 * ```
 */
export function maskCredentials(text: string): string {
  let masked = text;
  for (const [shape, replacement] of CREDENTIAL_SHAPES) masked = masked.replace(shape, replacement);
  return masked;
}
