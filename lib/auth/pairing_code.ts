/**
 * Pairing codes: 8 symbols from a 32-symbol alphabet drawn from the CSPRNG,
 * stored only as `sha256(salt ‖ code)` and compared in constant time.
 *
 * @module
 */

/** The symbols of a code: no 0, O, 1 or I. */
export const PAIRING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/** Characters in a code. */
export const CODE_LENGTH = 8;

const HEX64 = /^[0-9a-f]{64}$/;

/** A new code (32 symbols, so a byte's low 5 bits pick one without bias). */
export function randomCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(CODE_LENGTH));
  return [...bytes].map((b) => PAIRING_ALPHABET[b & 31]).join("");
}

/** `bytes` random bytes as lower-case hex (salts, request ids). */
export function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The stored form of a code: SHA-256 of the salt (hex) followed by the code,
 * as lower-case hex. WebCrypto, so that `hermes pair` does not load node:crypto.
 *
 * @example
 * ```ts
 * (await hashCode("00ff", "K7M2QX9P")).length; // 64
 * ```
 */
export async function hashCode(salt: string, code: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(salt + code));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a stored `{salt, hash}` is that of `code` (constant-time; malformed entries never match). */
export async function matchesCode(
  entry: { salt?: unknown; hash?: unknown },
  code: string,
): Promise<boolean> {
  if (typeof entry.salt !== "string" || typeof entry.hash !== "string") return false;
  if (!HEX64.test(entry.hash)) return false;
  return sameHex(await hashCode(entry.salt, code), entry.hash);
}

/** Compares two hex strings of equal length in time that does not depend on where they differ. */
function sameHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}
