/**
 * Raw HTTP/1.1 requests read off a TCP connection, for the simulators that
 * speak HTTP themselves so that they can fail the way real links fail (a
 * connection closed without an answer, before or after the call ran).
 *
 * @module
 */

/** One request as read from the socket. */
export interface Incoming {
  /** HTTP method. */
  method: string;
  /** Request target (path and query). */
  target: string;
  /** Headers. */
  headers: Headers;
  /** The body bytes. */
  raw: Uint8Array<ArrayBuffer>;
}

/** Buffered reads from a connection. */
class Reader {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async line(max = 65536): Promise<string | undefined> {
    for (;;) {
      const end = this.#buf.findIndex((b, i) => b === 10 && this.#buf[i - 1] === 13);
      if (end >= 0) {
        const line = new TextDecoder().decode(this.#buf.subarray(0, end - 1));
        this.#buf = this.#buf.slice(end + 1);
        return line;
      }
      if (this.#buf.length > max || !await this.#fill()) return undefined;
    }
  }

  async bytes(n: number): Promise<Uint8Array<ArrayBuffer> | undefined> {
    const out = new Uint8Array(n);
    let got = Math.min(n, this.#buf.length);
    out.set(this.#buf.subarray(0, got));
    this.#buf = this.#buf.slice(got);
    while (got < n) {
      const read = await this.conn.read(out.subarray(got));
      if (read === null) return undefined;
      got += read;
    }
    return out;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
    return true;
  }
}

/** Reads one HTTP/1.1 request (Content-Length or chunked); undefined when it is incomplete. */
export async function readRequest(conn: Deno.Conn): Promise<Incoming | undefined> {
  const reader = new Reader(conn);
  const [method, target] = (await reader.line())?.split(" ") ?? [];
  if (!method || !target) return undefined;
  const headers = new Headers();
  for (let line = await reader.line(); line !== ""; line = await reader.line()) {
    if (line === undefined) return undefined;
    const colon = line.indexOf(":");
    try {
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    } catch {
      // a header Headers cannot hold is left out
    }
  }
  if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
    const parts: Uint8Array[] = [];
    for (;;) {
      const size = parseInt(await reader.line() ?? "", 16);
      if (Number.isNaN(size)) return undefined;
      const part = await reader.bytes(size + 2);
      if (!part) return undefined;
      if (size === 0) break;
      parts.push(part.subarray(0, size));
    }
    return { method, target, headers, raw: concat(parts) };
  }
  const raw = await reader.bytes(Number(headers.get("content-length") ?? 0) || 0);
  return raw && { method, target, headers, raw };
}

/** The parts joined into one byte array. */
export function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
