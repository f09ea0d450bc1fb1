/**
 * Media the end-to-end tests send, and what the media cache of a home holds.
 *
 * @module
 */

/** The first bytes of a 1×1 PNG: enough for the type to be sniffed. */
export const PNG = Uint8Array.from([
  0x89,
  0x50,
  0x4e,
  0x47,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
  0,
  0,
  0,
  13,
  0x49,
  0x48,
  0x44,
  0x52,
  0,
  0,
  0,
  1,
  0,
  0,
  0,
  1,
  8,
  2,
  0,
  0,
  0,
  0x90,
  0x77,
  0x53,
  0xde,
]);

/** The files in a home's media cache by name (files still being written are left out). */
export async function cachedFiles(home: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  try {
    for await (const entry of Deno.readDir(`${home}/media`)) {
      if (entry.isFile && !entry.name.startsWith(".")) {
        files.set(entry.name, await Deno.readFile(`${home}/media/${entry.name}`));
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return files;
}
