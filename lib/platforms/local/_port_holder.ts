/**
 * Who holds a port the local platform wanted: another hermes gateway (its
 * `/healthz` names its home and PID), some other HTTP server, or unknown.
 *
 * @module
 */

const PROBE_TIMEOUT_MS = 1_500;

/**
 * A short description of what listens on `host:port`, or undefined when
 * nothing answers HTTP there.
 *
 * @example
 * ```ts
 * await portHolder("127.0.0.1", 8642); // "the hermes gateway of /home/me/.hermes (PID 4242)"
 * ```
 */
export async function portHolder(host: string, port: number): Promise<string | undefined> {
  const target = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const url = `http://${
    target.includes(":") && !target.startsWith("[") ? `[${target}]` : target
  }:${port}/healthz`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const body = await response.json().catch(() => undefined) as
      | Record<string, unknown>
      | undefined;
    if (body?.service === "hermes" && typeof body.home === "string") {
      return `the hermes gateway of ${body.home}${
        typeof body.pid === "number" ? ` (PID ${body.pid})` : ""
      }`;
    }
    return `another program (it answers HTTP ${response.status} at /healthz)`;
  } catch {
    return undefined;
  }
}
