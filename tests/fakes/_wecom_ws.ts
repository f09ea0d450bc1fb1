/**
 * RFC 6455 WebSocket framing on a raw `Deno.Conn`, private to the WeCom
 * simulator (`wecom_server.ts`). It exists because the simulator must fail
 * in ways `Deno.upgradeWebSocket` cannot: closing TCP without a close frame,
 * and going deaf (reading, never writing) while the socket stays open.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The GUID RFC 6455 appends to `Sec-WebSocket-Key`. */
export const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Frame opcodes (RFC 6455 section 5.2). */
export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

const KNOWN_OPCODES = new Set<number>(Object.values(Opcode));

/**
 * The `Sec-WebSocket-Accept` value for a key: base64(sha1(key + GUID)).
 *
 * @example
 * ```ts
 * acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
 * ```
 */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + WS_GUID).digest("base64");
}

/** One decoded frame. */
export interface WsFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** Options of {@linkcode encodeFrame}. */
export interface EncodeOptions {
  /** Last frame of its message; default true. */
  fin?: boolean;
  /** Mask the payload (client to server); default false. */
  mask?: boolean;
}

/**
 * Encodes one frame, with a 7-, 16- or 64-bit length as the payload needs.
 *
 * @example
 * ```ts
 * encodeFrame(Opcode.text, new TextEncoder().encode("hi"), { mask: true });
 * ```
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: EncodeOptions = {},
): Uint8Array {
  const { fin = true, mask = false } = options;
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const headerSize = 2 + lengthBytes + (mask ? 4 : 0);
  const out = new Uint8Array(headerSize + length);
  const view = new DataView(out.buffer);
  view.setUint8(0, (fin ? 0x80 : 0) | opcode);
  const maskBit = mask ? 0x80 : 0;
  if (lengthBytes === 0) {
    view.setUint8(1, maskBit | length);
  } else if (lengthBytes === 2) {
    view.setUint8(1, maskBit | 126);
    view.setUint16(2, length);
  } else {
    view.setUint8(1, maskBit | 127);
    view.setUint32(2, Math.floor(length / 2 ** 32));
    view.setUint32(6, length >>> 0);
  }
  if (!mask) {
    out.set(payload, headerSize);
    return out;
  }
  const key = crypto.getRandomValues(new Uint8Array(4));
  out.set(key, headerSize - 4);
  for (let i = 0; i < length; i++) {
    out[headerSize + i] = payload[i]! ^ key[i & 3]!;
  }
  return out;
}

/** A frame that breaks RFC 6455; `closeCode` is the code to close with. */
export class FrameError extends Error {
  /** The close code the endpoint answers with (1002 protocol error, 1009 too big). */
  readonly closeCode: number;

  constructor(message: string, closeCode = 1002) {
    super(message);
    this.name = "FrameError";
    this.closeCode = closeCode;
  }
}

/** Incremental frame decoder: push bytes as they arrive, take frames out. */
export class FrameParser {
  #buf = new Uint8Array(4096);
  #start = 0;
  #end = 0;
  readonly #maxPayload: number;

  constructor(maxPayload = 64 * 1024 * 1024) {
    this.#maxPayload = maxPayload;
  }

  /** Appends received bytes (copied). */
  push(chunk: Uint8Array): void {
    const needed = this.#end - this.#start + chunk.length;
    if (this.#end + chunk.length > this.#buf.length) {
      if (needed > this.#buf.length) {
        const grown = new Uint8Array(Math.max(needed, this.#buf.length * 2));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#end -= this.#start;
      this.#start = 0;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** The next complete frame, or undefined until more bytes arrive; throws {@linkcode FrameError}. */
  next(): WsFrame | undefined {
    const available = this.#end - this.#start;
    if (available < 2) return undefined;
    const view = new DataView(this.#buf.buffer, this.#start, available);
    const b0 = view.getUint8(0);
    const b1 = view.getUint8(1);
    const fin = (b0 & 0x80) !== 0;
    const rsv = (b0 >> 4) & 0x7;
    const opcode = b0 & 0xf;
    const masked = (b1 & 0x80) !== 0;
    if (rsv !== 0) throw new FrameError(`Cannot read frame: reserved bits ${rsv} set`);
    if (!KNOWN_OPCODES.has(opcode)) throw new FrameError(`Cannot read frame: opcode ${opcode}`);
    let length = b1 & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (available < 4) return undefined;
      length = view.getUint16(2);
      offset = 4;
    } else if (length === 127) {
      if (available < 10) return undefined;
      const high = view.getUint32(2);
      if (high & 0x80000000) {
        throw new FrameError("Cannot read frame: 64-bit length has its top bit set");
      }
      length = high * 2 ** 32 + view.getUint32(6);
      offset = 10;
    }
    if (opcode >= 0x8 && (length > 125 || !fin)) {
      throw new FrameError(`Cannot read frame: control frame of ${length} bytes, fin ${fin}`);
    }
    if (length > this.#maxPayload) {
      throw new FrameError(`Cannot read frame: ${length} bytes exceed ${this.#maxPayload}`, 1009);
    }
    const maskOffset = offset;
    if (masked) offset += 4;
    if (available < offset + length) return undefined;
    const start = this.#start + offset;
    const payload = this.#buf.slice(start, start + length);
    if (masked) {
      const key = this.#buf.subarray(this.#start + maskOffset, this.#start + maskOffset + 4);
      for (let i = 0; i < length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
    }
    this.#start += offset + length;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return { fin, rsv, opcode, masked, payload };
  }
}

/** An HTTP/1.1 request or response head, and the bytes read past it. */
export interface HttpHead {
  /** e.g. `GET /media/x HTTP/1.1` or `HTTP/1.1 101 Switching Protocols`. */
  startLine: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Map<string, string>;
  /** Bytes after the blank line (early WebSocket frames). */
  rest: Uint8Array;
}

const CRLFCRLF = [13, 10, 13, 10];

/** Reads one HTTP head; undefined when the peer closes first or sends more than `maxBytes`. */
export async function readHttpHead(
  conn: Deno.Conn,
  maxBytes = 16384,
): Promise<HttpHead | undefined> {
  let buf = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  let scanned = 0;
  for (;;) {
    const n = await conn.read(chunk);
    if (n === null) return undefined;
    const grown = new Uint8Array(buf.length + n);
    grown.set(buf);
    grown.set(chunk.subarray(0, n), buf.length);
    buf = grown;
    for (let i = Math.max(0, scanned - 3); i + 4 <= buf.length; i++) {
      if (CRLFCRLF.every((byte, k) => buf[i + k] === byte)) {
        return parseHead(new TextDecoder().decode(buf.subarray(0, i)), buf.slice(i + 4));
      }
    }
    scanned = buf.length;
    if (buf.length > maxBytes) return undefined;
  }
}

function parseHead(text: string, rest: Uint8Array): HttpHead {
  const [startLine = "", ...lines] = text.split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = headers.get(name);
    headers.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  return { startLine, headers, rest };
}

/** Joins byte arrays. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Writes all bytes (Deno's `write` may be partial). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/**
 * The client half of the opening handshake on an open TCP connection:
 * sends the upgrade request and checks the 101 answer and its accept key.
 * Returns the bytes read past the response head.
 */
export async function clientHandshake(
  conn: Deno.Conn,
  host: string,
  path = "/",
): Promise<Uint8Array> {
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  const request = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  await writeAll(conn, utf8(request));
  const head = await readHttpHead(conn);
  if (!head) throw new Error(`Cannot open WebSocket to ${host}: no response head`);
  if (!/^HTTP\/1\.1 101\b/.test(head.startLine)) {
    throw new Error(`Cannot open WebSocket to ${host}: "${head.startLine}"`);
  }
  if (head.headers.get("sec-websocket-accept") !== acceptKey(key)) {
    throw new Error(`Cannot open WebSocket to ${host}: wrong Sec-WebSocket-Accept`);
  }
  return head.rest;
}

/**
 * Answers a WebSocket upgrade request: 101 with the accept key, or 426 when
 * the request is not a version-13 GET with a key. True when upgraded.
 */
export async function acceptUpgrade(conn: Deno.Conn, head: HttpHead): Promise<boolean> {
  const key = head.headers.get("sec-websocket-key");
  const version = head.headers.get("sec-websocket-version");
  if (!head.startLine.startsWith("GET ") || !key || version !== "13") {
    await respondText(conn, "426 Upgrade Required", "bad websocket upgrade", {
      "sec-websocket-version": "13",
    });
    return false;
  }
  await writeAll(
    conn,
    utf8(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
    ),
  );
  return true;
}

/** Writes an HTTP/1.1 response head; every response closes its connection. */
export async function writeHttpHead(
  conn: Deno.Conn,
  status: string,
  headers: Record<string, string>,
): Promise<void> {
  const lines = Object.entries({ ...headers, connection: "close" }).map(([k, v]) => `${k}: ${v}`);
  await writeAll(conn, utf8(`HTTP/1.1 ${status}\r\n${lines.join("\r\n")}\r\n\r\n`));
}

/** Writes a whole plain-text HTTP response. */
export async function respondText(
  conn: Deno.Conn,
  status: string,
  text: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const body = utf8(text);
  await writeHttpHead(conn, status, {
    "content-type": "text/plain",
    "content-length": String(body.length),
    ...headers,
  });
  await writeAll(conn, body);
}

/** Writes one chunk of a chunked body; an empty part ends the body. */
export async function writeChunk(conn: Deno.Conn, part: Uint8Array): Promise<void> {
  await writeAll(conn, concatBytes([utf8(`${part.length.toString(16)}\r\n`), part, utf8("\r\n")]));
}

/** What a {@linkcode WsPeer} reports. */
export interface WsPeerHandlers {
  /** A complete data message, reassembled from continuation frames. */
  onMessage(data: Uint8Array, binary: boolean): void;
  /** A control frame arrived (also while deaf). */
  onControl?(kind: "ping" | "pong" | "close", payload: Uint8Array): void;
  /** The peer broke the protocol; the connection is being closed (unless deaf). */
  onProtocolError?(message: string): void;
  /** The TCP socket is closed, by either side; called once. */
  onClosed?(): void;
}

/** Options of a {@linkcode WsPeer}. */
export interface WsPeerOptions {
  /** Largest message accepted; default 64 MiB. */
  maxMessage?: number;
  /** How long to wait for the other side's close frame or EOF; default 1000 ms. */
  closeTimeoutMs?: number;
}

/**
 * One end of a WebSocket connection over a raw socket. A `server` peer
 * requires masked frames and sends unmasked ones; a `client` peer the
 * opposite. While `deaf` it still reads and reports frames but writes
 * nothing at all (no pongs, no close replies): a half-open link.
 */
export class WsPeer {
  /** Write nothing, answer nothing, keep reading. */
  deaf = false;
  /** Answer WebSocket pings with pongs. */
  autoPong = true;
  readonly #conn: Deno.Conn;
  readonly #role: "server" | "client";
  readonly #handlers: WsPeerHandlers;
  readonly #parser: FrameParser;
  readonly #maxMessage: number;
  readonly #closeTimeoutMs: number;
  #rest: Uint8Array;
  #message: { opcode: number; parts: Uint8Array[]; size: number } | undefined;
  #tcpOpen = true;
  #broken = false;
  #closeSent = false;
  #closeReceived = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #writes: Promise<void> = Promise.resolve();
  #done: Promise<void> | undefined;

  constructor(
    conn: Deno.Conn,
    role: "server" | "client",
    rest: Uint8Array,
    handlers: WsPeerHandlers,
    options: WsPeerOptions = {},
  ) {
    this.#conn = conn;
    this.#role = role;
    this.#rest = rest;
    this.#handlers = handlers;
    this.#maxMessage = options.maxMessage ?? 64 * 1024 * 1024;
    this.#parser = new FrameParser(this.#maxMessage);
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 1000;
  }

  /** Starts the read loop; resolves once the socket is closed and all writes settled. */
  start(): Promise<void> {
    this.#done ??= this.#run();
    return this.#done;
  }

  /** The TCP socket is still open. */
  get tcpOpen(): boolean {
    return this.#tcpOpen;
  }

  /** A close frame was received from the other side. */
  get closeReceived(): boolean {
    return this.#closeReceived;
  }

  /** Sends one frame (dropped while deaf, after a close frame, or once closed). */
  send(opcode: number, payload: Uint8Array, fin = true): void {
    if (this.deaf || !this.#tcpOpen || this.#closeSent) return;
    this.#write(encodeFrame(opcode, payload, { fin, mask: this.#role === "client" }));
  }

  /** Sends a text message in one frame. */
  sendText(text: string): void {
    this.send(Opcode.text, utf8(text));
  }

  /**
   * Starts the closing handshake: a close frame, then the TCP close once the
   * other side answers (or after the close timeout). While deaf the socket is
   * simply closed.
   */
  close(code = 1000, reason = ""): void {
    if (!this.#tcpOpen) return;
    if (this.deaf) return this.destroy();
    if (!this.#closeSent) this.#sendClose(code, reason);
    if (this.#closeReceived) this.#destroyAfterWrites();
    else this.#armCloseTimer();
  }

  /** Closes the TCP socket now, without a close frame. */
  destroy(): void {
    if (!this.#tcpOpen) return;
    this.#tcpOpen = false;
    clearTimeout(this.#closeTimer);
    try {
      this.#conn.close();
    } catch {
      // already closed by the runtime
    }
  }

  async #run(): Promise<void> {
    const buf = new Uint8Array(256 * 1024);
    try {
      if (this.#rest.length > 0) this.#feed(this.#rest);
      this.#rest = new Uint8Array(0);
      while (this.#tcpOpen) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.#feed(buf.subarray(0, n));
      }
    } catch {
      // the socket was closed under the pending read
    }
    this.destroy();
    await this.#writes;
    this.#handlers.onClosed?.();
  }

  #feed(bytes: Uint8Array): void {
    if (this.#broken) return;
    this.#parser.push(bytes);
    try {
      for (let frame = this.#parser.next(); frame; frame = this.#parser.next()) {
        this.#onFrame(frame);
        if (this.#broken) return;
      }
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.#broken = true;
      this.#handlers.onProtocolError?.(error.message);
      if (this.deaf || !this.#tcpOpen) return;
      if (!this.#closeSent) this.#sendClose(error.closeCode, error.message.slice(0, 120));
      this.#destroyAfterWrites();
    }
  }

  #onFrame(frame: WsFrame): void {
    if (this.#role === "server" && !frame.masked) {
      throw new FrameError("Cannot read frame: a client frame is not masked");
    }
    if (this.#role === "client" && frame.masked) {
      throw new FrameError("Cannot read frame: a server frame is masked");
    }
    switch (frame.opcode) {
      case Opcode.ping:
        this.#handlers.onControl?.("ping", frame.payload);
        if (this.autoPong) this.send(Opcode.pong, frame.payload);
        return;
      case Opcode.pong:
        this.#handlers.onControl?.("pong", frame.payload);
        return;
      case Opcode.close:
        return this.#onClose(frame.payload);
    }
    if (this.#closeReceived) return;
    if (frame.opcode === Opcode.continuation) {
      if (!this.#message) throw new FrameError("Cannot read frame: continuation without a message");
    } else {
      if (this.#message) {
        throw new FrameError("Cannot read frame: new message inside a fragmented one");
      }
      this.#message = { opcode: frame.opcode, parts: [], size: 0 };
    }
    const message = this.#message;
    message.parts.push(frame.payload);
    message.size += frame.payload.length;
    if (message.size > this.#maxMessage) {
      throw new FrameError(`Cannot read message: over ${this.#maxMessage} bytes`, 1009);
    }
    if (!frame.fin) return;
    this.#message = undefined;
    const data = message.parts.length === 1 ? message.parts[0]! : concatBytes(message.parts);
    this.#handlers.onMessage(data, message.opcode === Opcode.binary);
  }

  #onClose(payload: Uint8Array): void {
    this.#handlers.onControl?.("close", payload);
    if (this.deaf) return;
    if (payload.length === 1) throw new FrameError("Cannot read close frame: 1-byte payload");
    this.#closeReceived = true;
    if (!this.#closeSent) {
      const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : undefined;
      this.#sendClose(code);
    }
    // The server closes TCP first (RFC 6455 section 7.1.1); a client waits for it.
    if (this.#role === "server") this.#destroyAfterWrites();
    else this.#armCloseTimer();
  }

  #sendClose(code?: number, reason = ""): void {
    if (this.deaf || !this.#tcpOpen) return;
    const reasonBytes = utf8(reason);
    const payload = new Uint8Array(code === undefined ? 0 : 2 + reasonBytes.length);
    if (code !== undefined) {
      new DataView(payload.buffer).setUint16(0, code);
      payload.set(reasonBytes, 2);
    }
    this.send(Opcode.close, payload);
    this.#closeSent = true;
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined || !this.#tcpOpen) return;
    this.#closeTimer = setTimeout(() => this.destroy(), this.#closeTimeoutMs);
  }

  #destroyAfterWrites(): void {
    this.#writes.then(() => this.destroy());
  }

  #write(bytes: Uint8Array): void {
    this.#writes = this.#writes.then(async () => {
      if (!this.#tcpOpen) return;
      try {
        await writeAll(this.#conn, bytes);
      } catch {
        this.destroy();
      }
    });
  }
}

/**
 * Opens a client WebSocket to `127.0.0.1:port` on raw TCP and starts its
 * read loop. `onConnect` sees the socket before the handshake is sent.
 */
export async function connectClient(
  port: number,
  handlers: WsPeerHandlers,
  options: WsPeerOptions & { onConnect?: (tcp: Deno.TcpConn) => void } = {},
): Promise<{ peer: WsPeer; done: Promise<void>; localPort: number }> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  options.onConnect?.(tcp);
  let rest: Uint8Array;
  try {
    rest = await clientHandshake(tcp, `127.0.0.1:${port}`);
  } catch (error) {
    tcp.close();
    throw error;
  }
  const peer = new WsPeer(tcp, "client", rest, handlers, options);
  return { peer, done: peer.start(), localPort: tcp.localAddr.port };
}
