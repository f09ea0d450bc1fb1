/**
 * The bytes of a base64 data URL (`data:image/png;base64,...`), as clients
 * of the local platform send files.
 *
 * @example
 * ```ts
 * decodeDataUrl("data:text/plain;base64,aGk="); // Uint8Array [104, 105]
 * ```
 */
export function decodeDataUrl(url: string): Uint8Array {
  const match = /^data:[^,;]*(?:;[^,;=]+=[^,;]*)*;base64,(.*)$/s.exec(url);
  if (!match) throw new Error("a data URL must be base64 (data:image/png;base64,...)");
  try {
    return Uint8Array.from(atob(match[1]!.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } catch {
    throw new Error("the data URL is not valid base64");
  }
}
