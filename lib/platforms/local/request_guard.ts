/**
 * Who may ask the local platform anything: a browser page on another origin
 * (CSRF) or a name that resolves to this machine (DNS rebinding) must not
 * drive the agent or read the history. Every request must carry a `Host`
 * that names this server; the WebSocket and every request that is not a
 * read need a same-origin `Origin` (or none: curl and SDKs send none); POST
 * bodies must be JSON (a form or `text/plain` POST is what a foreign page
 * can send without asking first).
 *
 * @module
 */

/** Why a request was refused: the HTTP status and one line for the client and the log. */
export interface Refusal {
  readonly status: 403 | 415;
  readonly reason: string;
}

/** What the guard knows of the server. */
export interface GuardOptions {
  /** The address the server is bound to (`127.0.0.1`, `0.0.0.0`, `::1`, a name). */
  readonly boundHost: string;
  /** Further host names clients may use (`local.allowed_hosts`); `.example.com` covers subdomains. */
  readonly allowedHosts: readonly string[];
}

const WILDCARDS = new Set(["0.0.0.0", "::", "[::]"]);
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Checks `Host`, `Origin` and the body's type of a request before anything
 * else looks at it.
 *
 * @example
 * ```ts
 * const guard = new RequestGuard({ boundHost: "127.0.0.1", allowedHosts: [] });
 * guard.check(new Request("http://evil.example:8642/healthz")); // { status: 403, reason: "Host evil.example is not ..." }
 * guard.check(new Request("http://127.0.0.1:8642/healthz")); // undefined
 * ```
 */
export class RequestGuard {
  readonly #names: ReadonlySet<string>;
  readonly #suffixes: readonly string[];
  readonly #anyAddress: boolean;

  constructor(options: GuardOptions) {
    const bound = hostnameOf(options.boundHost);
    this.#anyAddress = WILDCARDS.has(bound);
    const names = new Set(["localhost", "127.0.0.1", "[::1]", bound]);
    const listed = options.allowedHosts.map((h) => h.trim().toLowerCase()).filter(Boolean);
    for (const name of listed) if (!name.startsWith(".")) names.add(hostnameOf(name));
    this.#names = names;
    this.#suffixes = listed.filter((name) => name.startsWith("."));
  }

  /** The refusal of `request`, or undefined when it may go on. */
  check(request: Request): Refusal | undefined {
    // Deno.serve builds request.url from the Host header; the header itself is preferred.
    const host = request.headers.get("host") ?? new URL(request.url).host;
    const hostname = hostnameOf(host);
    if (!this.#hostAllowed(hostname)) {
      return forbidden(
        `Host ${hostname} is not this server's name: add it to local.allowed_hosts if clients use it`,
      );
    }
    const writes = request.method !== "GET" && request.method !== "HEAD";
    const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    const origin = request.headers.get("origin");
    if ((writes || upgrade) && origin !== null && !sameOrigin(origin, host)) {
      return forbidden(
        `Origin ${origin} may not use this server: only pages it serves itself (or clients that send no Origin) may`,
      );
    }
    if (request.method === "POST" && !isJson(request.headers.get("content-type"))) {
      return {
        status: 415,
        reason: "Unsupported request body: send Content-Type: application/json",
      };
    }
    return undefined;
  }

  #hostAllowed(hostname: string): boolean {
    if (this.#names.has(hostname)) return true;
    if (this.#anyAddress && (IPV4.test(hostname) || hostname.startsWith("["))) return true;
    return this.#suffixes.some((suffix) => hostname.endsWith(suffix));
  }
}

function forbidden(reason: string): Refusal {
  return { status: 403, reason: `Forbidden: ${reason}` };
}

/** `Host` without its port, lowercased; IPv6 stays in brackets. */
function hostnameOf(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith("[")) return lower.slice(0, lower.indexOf("]") + 1);
  if (lower.includes(":") && lower.indexOf(":") !== lower.lastIndexOf(":")) return `[${lower}]`;
  return lower.replace(/:\d*$/, "");
}

function sameOrigin(origin: string, host: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") &&
      url.host === new URL(`http://${host}`).host;
  } catch {
    return false; // "null" (sandboxed frames, file://) or garbage
  }
}

function isJson(contentType: string | null): boolean {
  const type = contentType?.split(";")[0]?.trim().toLowerCase();
  return type === "application/json";
}
