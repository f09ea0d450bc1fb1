/**
 * The one downloader every adapter uses for media: http and https only,
 * every host resolved and refused when any address it resolves to is
 * loopback, private, link-local or the cloud metadata service (SSRF), each
 * redirect checked the same way, a host allowlist per platform where the
 * platform has one, a size limit while reading, a timeout, and the file
 * kept in the media cache with its type sniffed from its bytes.
 *
 * @module
 */

import type { Attachment } from "../platforms/event.ts";
import { blockedReason, isIpLiteral } from "./_addresses.ts";
import { type MediaCache, MediaTooLargeError } from "./cache.ts";

/** A download the guard refused, naming the address and why. */
export class BlockedDownloadError extends Error {
  constructor(url: string, why: string) {
    super(`Cannot download ${url}: ${why}`);
    this.name = "BlockedDownloadError";
  }
}

/** Options of {@linkcode downloadMedia}. */
export interface DownloadOptions {
  readonly cache: MediaCache;
  readonly fetch?: typeof fetch;
  /** Resolves a host name to its addresses (default: DNS A and AAAA records). */
  readonly resolve?: (host: string) => Promise<string[]>;
  /** Only these hosts (and their subdomains); unset: any public host. */
  readonly allowHosts?: readonly string[];
  /**
   * Addresses tests may reach despite the guard when a URL names them
   * directly (e.g. `http://127.0.0.1:port/` of a local fake); a host name
   * resolving to one is still refused.
   */
  readonly allowAddresses?: readonly string[];
  /** Default: the cache's file limit. */
  readonly maxBytes?: number;
  /** Default 30 s. */
  readonly timeoutMs?: number;
  /** Default 5. */
  readonly maxRedirects?: number;
  readonly name?: string;
  /** Turns the bytes fetched into the file (a platform's decryption); its errors fail the download. */
  readonly decode?: (bytes: Uint8Array) => Uint8Array;
}

/**
 * Downloads `url` into the media cache, or throws `BlockedDownloadError`
 * (refused by the guard), `MediaTooLargeError`, or an Error naming what
 * failed.
 *
 * @example
 * ```ts
 * import { MediaCache } from "./cache.ts";
 * const cache = new MediaCache("/srv/hermes/media");
 * const photo = await downloadMedia("https://cdn.example.com/cat.png", { cache });
 * photo.mime; // "image/png"
 * ```
 */
export async function downloadMedia(url: string, options: DownloadOptions): Promise<Attachment> {
  const fetcher = options.fetch ?? fetch;
  const maxRedirects = options.maxRedirects ?? 5;
  const signal = AbortSignal.timeout(options.timeoutMs ?? 30_000);
  let target = url;
  for (let hop = 0;; hop++) {
    await checkTarget(target, options);
    const response = await fetcher(target, { redirect: "manual", signal });
    if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
      await response.body?.cancel();
      if (hop >= maxRedirects) {
        throw new Error(`Cannot download ${url}: more than ${maxRedirects} redirects`);
      }
      target = new URL(response.headers.get("location")!, target).toString();
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`Cannot download ${target}: HTTP ${response.status}`);
    }
    const fetched = await readLimited(response, options.maxBytes);
    const bytes = options.decode ? options.decode(fetched) : fetched;
    const name = options.name ?? dispositionName(response.headers.get("content-disposition")) ??
      nameOf(target);
    return await options.cache.store(bytes, { name });
  }
}

/** Refuses a URL whose scheme, host or any of its addresses the guard does not allow. */
async function checkTarget(url: string, options: DownloadOptions): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BlockedDownloadError(url, "not a URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new BlockedDownloadError(url, `the scheme ${parsed.protocol} is not http or https`);
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (options.allowHosts && !options.allowHosts.some((h) => host === h || host.endsWith(`.${h}`))) {
    throw new BlockedDownloadError(url, `the host ${host} is not on this platform's list`);
  }
  const addresses = isIpLiteral(host)
    ? [host]
    : await (options.resolve ?? resolveHost)(host).catch((error) => {
      throw new BlockedDownloadError(url, `cannot resolve ${host}: ${(error as Error).message}`);
    });
  if (addresses.length === 0) throw new BlockedDownloadError(url, `${host} has no address`);
  for (const address of addresses) {
    if (isIpLiteral(host) && options.allowAddresses?.includes(address)) continue;
    const why = blockedReason(address);
    if (why) throw new BlockedDownloadError(url, `${host} is ${address}, a ${why} address`);
  }
}

async function resolveHost(host: string): Promise<string[]> {
  const found = await Promise.allSettled([
    Deno.resolveDns(host, "A"),
    Deno.resolveDns(host, "AAAA"),
  ]);
  const addresses = found.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
  if (addresses.length === 0) {
    const failure = found.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    throw failure?.reason ?? new Error("no A or AAAA record");
  }
  return addresses;
}

async function readLimited(response: Response, maxBytes = Infinity): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new MediaTooLargeError(declared, maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? new ReadableStream<Uint8Array>()) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new MediaTooLargeError(size, maxBytes);
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** The file name a Content-Disposition header gives (RFC 6266 `filename*` first). */
function dispositionName(header: string | null): string | undefined {
  if (!header) return undefined;
  const extended = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header)?.[1];
  if (extended) {
    try {
      return decodeURIComponent(extended.trim());
    } catch {
      // not percent-encoded properly: try the plain form
    }
  }
  const plain = /filename\s*=\s*(?:"([^"]*)"|([^;]+))/.exec(header);
  const value = (plain?.[1] ?? plain?.[2])?.trim().split(/[\\/]/).pop();
  return value ? value : undefined;
}

function nameOf(url: string): string | undefined {
  const last = new URL(url).pathname.split("/").pop();
  return last ? decodeURIComponent(last) : undefined;
}
