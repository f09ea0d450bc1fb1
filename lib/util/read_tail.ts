/**
 * Reading a stream of text while keeping only its end: what a subprocess
 * wrote to stderr before it failed, without holding everything it wrote.
 *
 * @module
 */

/**
 * Reads `reader` to its end (or until it fails or is cancelled) and returns
 * at most the last `maxChars` characters of its text. Memory stays bounded by
 * `maxChars` plus one chunk, however much the stream carries.
 *
 * @example
 * ```ts
 * const child = new Deno.Command("ls", { args: ["/nonexistent"], stderr: "piped" }).spawn();
 * const tail = await readTail(child.stderr.getReader(), 4096);
 * ```
 */
export async function readTail(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  maxChars: number,
): Promise<string> {
  if (!(maxChars > 0)) {
    throw new RangeError(`Cannot keep a tail of ${maxChars} characters: it must be positive`);
  }
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const chunk = decoder.decode(value, { stream: true });
      text = (text + chunk).slice(-maxChars);
    }
  } catch {
    // the stream failed; what was read is enough for an error message
  }
  return (text + decoder.decode()).slice(-maxChars);
}
