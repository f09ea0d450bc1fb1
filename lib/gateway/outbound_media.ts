/**
 * Files a reply sends: each `MEDIA:<path>` line of the agent's text names
 * one. Only files inside the media cache or a folder listed in
 * `agent.media_dirs` go (after resolving links, so neither `..` nor a
 * symlink leads out); any other path is refused and logged, so a user
 * cannot talk the agent into sending `/etc/passwd` or the home's secrets.
 * What is sent is a copy taken now into the media cache, so a file swapped
 * for something else before the send goes out is not what goes.
 *
 * @module
 */

import type { Attachment } from "../platforms/event.ts";
import { kindOf, sniffMime } from "../media/sniff.ts";

/** What a reply's text says to send. */
export interface OutboundMedia {
  /** The text without its `MEDIA:` lines. */
  readonly text: string;
  /** The files that may go, in order. */
  readonly files: Attachment[];
  /** Paths refused, with why. */
  readonly refused: { readonly path: string; readonly why: string }[];
}

const MEDIA_LINE = /^MEDIA:[ \t]*(\S.*?)[ \t]*$/gm;

/**
 * Takes the `MEDIA:` lines out of `text` and checks each file against the
 * folders files may come from.
 *
 * @example
 * ```ts
 * const media = await outboundMedia("Here it is\nMEDIA:/srv/reports/q3.pdf", ["/srv/reports"]);
 * media.text;  // "Here it is"
 * media.files; // [{ kind: "file", mime: "application/pdf", name: "q3.pdf", size: 2048, path: "/srv/reports/q3.pdf" }]
 * ```
 */
export async function outboundMedia(
  text: string,
  folders: readonly string[],
  keep?: (bytes: Uint8Array, name: string) => Promise<Attachment>,
): Promise<OutboundMedia> {
  const paths = [...text.matchAll(MEDIA_LINE)].map((m) => m[1]!);
  if (paths.length === 0) return { text, files: [], refused: [] };
  const roots = (await Promise.all(folders.map((f) => Deno.realPath(f).catch(() => undefined))))
    .filter((r): r is string => r !== undefined);
  const files: Attachment[] = [];
  const refused: { path: string; why: string }[] = [];
  for (const path of paths) {
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch {
      refused.push({ path, why: "no such file" });
      continue;
    }
    if (!roots.some((root) => real.startsWith(`${root}/`))) {
      refused.push({ path, why: "outside the media cache and agent.media_dirs" });
      continue;
    }
    const name = real.split("/").pop()!;
    try {
      const info = await Deno.stat(real);
      if (!info.isFile) {
        refused.push({ path, why: "not a file" });
        continue;
      }
      if (keep) {
        files.push(await keep(await Deno.readFile(real), name));
        continue;
      }
      const mime = sniffMime(await readHead(real));
      files.push({ kind: kindOf(mime), mime, name, size: info.size, path: real });
    } catch (error) {
      refused.push({ path, why: `cannot read it: ${(error as Error).message}` });
    }
  }
  const rest = text.split("\n").filter((line) => !/^MEDIA:[ \t]*\S/.test(line)).join("\n").trim();
  return { text: rest, files, refused };
}

async function readHead(path: string): Promise<Uint8Array> {
  using file = await Deno.open(path);
  const buffer = new Uint8Array(4096);
  const read = await file.read(buffer);
  return buffer.subarray(0, read ?? 0);
}
