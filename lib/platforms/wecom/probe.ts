/**
 * `hermes wecom probe`: the checks of one bot's long connection, for the
 * bot that "stays connected but receives nothing". Each step is timed and
 * reported; each problem becomes a finding with its cause and a fix. The
 * probe opens its own connection, so it must never run while a gateway holds
 * the bot (that would steal its link): the command checks that first, and
 * `healthFindings` (probe_health.ts) reads a running gateway's published
 * health instead.
 *
 * @module
 */

import { raceTimeout, TIMED_OUT } from "../../util/race_timeout.ts";
import { type WecomFrame, WecomLinkError, WecomRequestError, WecomSocket } from "./api.ts";
import { wecomError } from "./errors.ts";
import { seconds, TAKEOVER_FIX } from "./probe_health.ts";

/** One step of a probe. */
export interface ProbeStep {
  /** `dns`, `tcp`, `tls`, `websocket`, `subscribe`, `heartbeat`, `reconnect_<n>`, `message`, `takeover`, ... */
  readonly name: string;
  readonly ok: boolean;
  /** How long it took; null when it was skipped. */
  readonly ms: number | null;
  readonly detail: string;
  readonly skipped?: true;
  /** Numbers for machines (heartbeat: pings, acked, missed, median_ms, worst_ms). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** A problem the probe found: what it is (the cause) and what to do. */
export interface ProbeFinding {
  /** Stable: `secret_wrong`, `missed_heartbeats`, `takeover`, `cannot_connect`, ... */
  readonly code: string;
  readonly message: string;
  readonly fix: string;
}

/** What {@linkcode probeWecom} found. */
export interface ProbeReport {
  readonly verdict: "healthy" | "problem";
  readonly url: string;
  readonly bot_id: string;
  readonly device_id: string;
  readonly steps: readonly ProbeStep[];
  readonly findings: readonly ProbeFinding[];
  /** Message and event callbacks that reached the probe's connections. */
  readonly callbacks: number;
}

/** What {@linkcode probeWecom} needs. */
export interface ProbeOptions {
  readonly url: string;
  readonly botId: string;
  readonly secret: string;
  /** The bot's persisted device_id (or a fresh one): every connection subscribes with it. */
  readonly deviceId: string;
  /** How long to exchange heartbeats (default 60 s). */
  readonly durationMs?: number;
  /** Time between pings (default 30 s). */
  readonly intervalMs?: number;
  /** How long a ping's ack may take before it counts as missed (default 10 s). */
  readonly heartbeatTimeoutMs?: number;
  /** Forced reconnect cycles after the heartbeats (default 2). */
  readonly reconnects?: number;
  /** Ask the operator for a message and wait for it on the last connection. */
  readonly waitMessage?: { readonly timeoutMs: number; readonly prompt: (text: string) => void };
  /** Handshake and subscribe timeout (default 20 s). */
  readonly connectTimeoutMs?: number;
  /** The proxy connections go through, if any: DNS, TCP and TLS are then not tried directly. */
  readonly proxy?: string;
  /** Hears each step as it ends (progress output). */
  readonly onStep?: (step: ProbeStep) => void;
}

/** A close by the server this soon after a subscribe means another client took the bot back. */
export const RIGHT_AFTER_SUBSCRIBE_MS = 5_000;

/**
 * Probes a bot's long connection: DNS, TCP, TLS and WebSocket handshake,
 * the subscribe, heartbeats for `durationMs`, forced reconnects with the
 * same device_id (and, with `waitMessage`, a message on the new connection),
 * watching throughout for a takeover. Never throws for what the server or
 * the network does: that is in the report.
 *
 * @example
 * ```ts
 * const report = await probeWecom({
 *   url: "wss://openws.work.weixin.qq.com",
 *   botId: "aib-1",
 *   secret: "s3cr3t",
 *   deviceId: "9f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
 *   durationMs: 10_000,
 * });
 * console.log(report.verdict, report.findings.map((f) => f.code));
 * ```
 */
export async function probeWecom(options: ProbeOptions): Promise<ProbeReport> {
  const run = new ProbeRun(options);
  try {
    await run.run();
  } finally {
    run.closeAll();
  }
  return run.report();
}

/** One connection of the probe and what happened on it. */
interface Conn {
  readonly socket: WecomSocket;
  subscribedAt?: number;
  /** We closed it (a reconnect cycle, the end). */
  ours: boolean;
  closed?: { readonly at: number; readonly reason: string };
  takeoverAt?: number;
  /** Callback arrival times. */
  readonly callbacks: number[];
  /** Woken on every close, takeover and callback. */
  readonly listeners: Set<() => void>;
}

class ProbeRun {
  readonly #o: ProbeOptions;
  readonly #steps: ProbeStep[] = [];
  readonly #findings: ProbeFinding[] = [];
  readonly #conns: Conn[] = [];
  #firstSubscribe: number | undefined;
  #lostReported = false;

  constructor(options: ProbeOptions) {
    this.#o = options;
  }

  async run(): Promise<void> {
    if (!await this.#network()) return;
    let conn = await this.#open("websocket");
    if (!conn || !await this.#subscribe(conn, "subscribe")) return;
    await this.#heartbeats(conn);
    if (this.#lost(conn, "the heartbeats")) return this.#takeoverStep();
    for (let i = 1; i <= (this.#o.reconnects ?? 2); i++) {
      conn = await this.#reconnect(conn, i);
      if (!conn) return this.#takeoverStep();
    }
    if (this.#o.waitMessage) await this.#waitMessage(conn, this.#o.waitMessage);
    this.#lost(conn, "the probe");
    this.#takeoverStep();
  }

  closeAll(): void {
    for (const conn of this.#conns) this.#close(conn);
  }

  report(): ProbeReport {
    return {
      verdict: this.#findings.length === 0 ? "healthy" : "problem",
      url: this.#o.url,
      bot_id: this.#o.botId,
      device_id: this.#o.deviceId,
      steps: [...this.#steps],
      findings: [...this.#findings],
      callbacks: this.#conns.reduce((n, c) => n + c.callbacks.length, 0),
    };
  }

  #step(step: ProbeStep): void {
    this.#steps.push(step);
    this.#o.onStep?.(step);
  }

  #find(code: string, message: string, fix: string): void {
    this.#findings.push({ code, message, fix });
  }

  /** DNS (unless an IP address), TCP and TLS (for wss://), each on its own. */
  async #network(): Promise<boolean> {
    let url: URL;
    try {
      url = new URL(this.#o.url);
      if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new Error("not ws:// or wss://");
    } catch (error) {
      this.#step({ name: "url", ok: false, ms: 0, detail: message(error) });
      this.#find(
        "bad_url",
        `Cannot use "${this.#o.url}": ${message(error)}`,
        "Set WECOM_WEBSOCKET_URL (or wecom.websocket_url) to a ws:// or wss:// URL",
      );
      return false;
    }
    const secure = url.protocol === "wss:";
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(url.port) || (secure ? 443 : 80);
    const skip = (name: string, why: string) =>
      this.#step({ name, ok: true, ms: null, detail: `skipped: ${why}`, skipped: true });
    if (this.#o.proxy) {
      for (const name of ["dns", "tcp", "tls"]) {
        skip(name, `connections go through ${this.#o.proxy}`);
      }
      return true;
    }
    const timeoutMs = this.#o.connectTimeoutMs ?? 20_000;
    let dns: { ms: number; addresses: string[]; error?: string } | undefined;
    if (isIpAddress(host)) skip("dns", `${host} is an IP address`);
    else dns = await resolve(host, timeoutMs);
    const tcpStart = performance.now();
    const tcp = await connectTcp(host, port, timeoutMs);
    const tcpMs = elapsed(tcpStart);
    if (dns) {
      // resolveDns asks the DNS server only; the connect may still find the host (hosts file).
      const ok = dns.error === undefined || typeof tcp !== "string";
      this.#step({
        name: "dns",
        ok,
        ms: dns.ms,
        detail: dns.error === undefined
          ? `${host} is ${dns.addresses.join(", ")}`
          : ok
          ? `the DNS server gave no address (${dns.error}); the system resolver found ${host}`
          : `${host}: ${dns.error}`,
      });
      if (!ok) {
        this.#find(
          "cannot_connect",
          `Cannot resolve ${host}: ${dns.error}`,
          "Check this machine's DNS (/etc/resolv.conf) and that the host name in WECOM_WEBSOCKET_URL is right",
        );
        return false;
      }
    }
    if (typeof tcp === "string") {
      this.#step({ name: "tcp", ok: false, ms: tcpMs, detail: tcp });
      this.#find(
        "cannot_connect",
        `Cannot open a TCP connection to ${host}:${port}: ${tcp}`,
        `Check that this machine may reach ${host}:${port} (firewall, outbound rules); if it must go through a proxy, set HTTPS_PROXY`,
      );
      return false;
    }
    this.#step({ name: "tcp", ok: true, ms: tcpMs, detail: `connected to ${host}:${port}` });
    if (!secure) {
      closeQuietly(tcp);
      skip("tls", "ws:// is not encrypted");
      return true;
    }
    const tlsStart = performance.now();
    const tls = await handshakeTls(tcp, host, timeoutMs);
    const tlsMs = elapsed(tlsStart);
    if (tls !== undefined) {
      this.#step({ name: "tls", ok: false, ms: tlsMs, detail: tls });
      this.#find(
        "cannot_connect",
        `The TLS handshake with ${host}:${port} failed: ${tls}`,
        "Check the system clock and the CA certificates; a proxy that intercepts TLS needs its CA trusted (DENO_CERT)",
      );
      return false;
    }
    this.#step({ name: "tls", ok: true, ms: tlsMs, detail: `handshake with ${host} done` });
    return true;
  }

  /**
   * Opens a WebSocket, as step `name`; undefined (and a finding) when it
   * cannot. A `quiet` success is no step of its own (a reconnect's part).
   */
  async #open(name: string, quiet = false): Promise<Conn | undefined> {
    const started = performance.now();
    let conn: Conn | undefined;
    const wake = () => conn?.listeners.forEach((listener) => listener());
    try {
      const socket = await WecomSocket.open(this.#o.url, {
        connectTimeoutMs: this.#o.connectTimeoutMs ?? 20_000,
        onFrame: (frame) => {
          if (!conn) return;
          if (isDisconnectedEvent(frame)) conn.takeoverAt ??= performance.now();
          else if (frame.cmd && frame.cmd !== "ping") conn.callbacks.push(performance.now());
          wake();
        },
        onClose: (reason) => {
          if (conn && !conn.ours) conn.closed = { at: performance.now(), reason };
          wake();
        },
      });
      conn = { socket, ours: false, callbacks: [], listeners: new Set() };
      this.#conns.push(conn);
    } catch (error) {
      this.#step({ name, ok: false, ms: elapsed(started), detail: message(error) });
      this.#find(
        "cannot_connect",
        `No WebSocket connection to ${this.#o.url}: ${message(error)}`,
        "Check WECOM_WEBSOCKET_URL, and that a proxy or firewall lets WebSocket upgrades through",
      );
      return undefined;
    }
    if (!quiet) {
      this.#step({ name, ok: true, ms: elapsed(started), detail: `connected to ${this.#o.url}` });
    }
    return conn;
  }

  /** `aibot_subscribe` on `conn`, as step `name`; false (and a finding) when refused. */
  async #subscribe(conn: Conn, name: string, quiet = false): Promise<boolean> {
    const { botId, secret, deviceId } = this.#o;
    const started = performance.now();
    try {
      await conn.socket.request(
        "aibot_subscribe",
        { bot_id: botId, secret, device_id: deviceId },
        { prefix: "subscribe", timeoutMs: this.#o.connectTimeoutMs ?? 20_000 },
      );
    } catch (error) {
      const ms = elapsed(started);
      if (error instanceof WecomRequestError) {
        const { errcode } = error;
        this.#step({ name, ok: false, ms, detail: error.message });
        if (errcode === 40013) {
          this.#find(
            "secret_wrong",
            `WeCom refused the subscribe of bot ${botId} with errcode 40013 (invalid secret): the secret is wrong (or the bot id is)`,
            "Copy the bot's secret again from the WeCom admin console (AI Bot → API mode: long connection) into WECOM_SECRET, and check WECOM_BOT_ID",
          );
        } else {
          this.#find(
            "subscribe_refused",
            `WeCom refused the subscribe with errcode ${errcode}: ${wecomError(errcode).meaning}`,
            "Check the bot in the WeCom admin console (enabled, long-connection mode) and run the probe again",
          );
        }
      } else {
        this.#step({ name, ok: false, ms, detail: message(error) });
        this.#find(
          "subscribe_failed",
          `The subscribe got no answer: ${message(error)}`,
          "Run the probe again; if it keeps failing, the server or the path to it drops the connection (proxy, firewall)",
        );
      }
      return false;
    }
    conn.subscribedAt = performance.now();
    this.#firstSubscribe ??= conn.subscribedAt;
    if (quiet) return true;
    this.#step({
      name,
      ok: true,
      ms: elapsed(started),
      detail: `errcode 0, device_id ${deviceId}`,
      data: { errcode: 0 },
    });
    return true;
  }

  /** Pings every interval for the duration; each ack awaited up to the heartbeat timeout. */
  async #heartbeats(conn: Conn): Promise<void> {
    const durationMs = this.#o.durationMs ?? 60_000;
    const intervalMs = this.#o.intervalMs ?? 30_000;
    const timeoutMs = this.#o.heartbeatTimeoutMs ?? 10_000;
    const started = performance.now();
    const acks: number[] = [];
    const refused: number[] = [];
    let missed = 0;
    for (let next = started; next < started + durationMs; next += intervalMs) {
      await this.#pause(conn, next - performance.now());
      if (conn.closed || conn.takeoverAt !== undefined) break;
      const answer = await ping(conn, timeoutMs);
      if (typeof answer === "number") acks.push(answer);
      else if (answer === "missed") missed++;
      else if (answer !== "interrupted") refused.push(answer.errcode);
      if (conn.closed) break;
    }
    // The link is watched for the whole duration, however long the interval.
    await this.#pause(conn, started + durationMs - performance.now());
    const sorted = [...acks].sort((a, b) => a - b);
    const median = sorted.length === 0 ? null : round(
      (sorted[Math.floor((sorted.length - 1) / 2)]! +
        sorted[Math.ceil((sorted.length - 1) / 2)]!) / 2,
    );
    const worst = sorted.length === 0 ? null : round(sorted.at(-1)!);
    const pings = acks.length + missed + refused.length;
    const unanswered = missed + refused.length;
    const timing = median === null ? "" : ` (median ${median} ms, worst ${worst} ms)`;
    const refusedText = refused.length === 0
      ? ""
      : `, ${refused.length} answered with an errcode (${[...new Set(refused)].join(", ")})`;
    this.#step({
      name: "heartbeat",
      ok: unanswered === 0 && pings > 0,
      ms: elapsed(started),
      detail: `${pings} pings: ${acks.length} acked${timing}, ${missed} missed${refusedText}`,
      data: {
        pings,
        acked: acks.length,
        missed,
        refused: refused.length,
        median_ms: median,
        worst_ms: worst,
      },
    });
    if (unanswered > 0) {
      this.#find(
        "missed_heartbeats",
        `${unanswered} of ${pings} heartbeats got no ack within ${
          timeoutMs / 1000
        } s (missed heartbeats${refusedText}): the socket is open but the server does not answer on it, a half-open link that delivers nothing`,
        "Look for what sits between this machine and WeCom (proxy, NAT, firewall with a short idle timeout) and run the probe again; the gateway closes such a link after two missed acks and reconnects",
      );
    }
  }

  /** Closes `conn` and opens, subscribes and pings a new one with the same device_id. */
  async #reconnect(previous: Conn, n: number): Promise<Conn | undefined> {
    const name = `reconnect_${n}`;
    this.#close(previous);
    const started = performance.now();
    const conn = await this.#open(name, true);
    if (!conn) return undefined;
    const openMs = elapsed(started);
    if (!await this.#subscribe(conn, name, true)) {
      this.#find(
        "reconnect_failed",
        `Reconnect ${n} could not subscribe again with the same device_id`,
        "See the subscribe finding above; a link that cannot come back after a drop receives nothing until it does",
      );
      return undefined;
    }
    const subscribedMs = round(elapsed(started) - openMs);
    const answer = await ping(conn, this.#o.heartbeatTimeoutMs ?? 10_000);
    // Give the server a moment to close us: that is what a client holding the bot makes it do.
    await this.#pause(conn, Math.min(this.#o.intervalMs ?? 30_000, 1_000));
    if (this.#lost(conn, `reconnect ${n}`)) {
      this.#step({
        name,
        ok: false,
        ms: elapsed(started),
        detail: conn.takeoverAt !== undefined
          ? "disconnected_event right after the subscribe"
          : `the server closed the new link (${conn.closed?.reason})`,
      });
      return undefined;
    }
    const acked = typeof answer === "number";
    this.#step({
      name,
      ok: acked,
      ms: elapsed(started),
      detail:
        `reopened in ${openMs} ms, subscribed again with device_id ${this.#o.deviceId} in ${subscribedMs} ms, ${
          acked ? `ping acked in ${round(answer)} ms` : "ping not acked"
        }`,
    });
    if (!acked && !this.#findings.some((f) => f.code === "missed_heartbeats")) {
      this.#find(
        "missed_heartbeats",
        `After reconnect ${n} the first heartbeat got no ack (missed heartbeats)`,
        "Run the probe again; a new link that does not answer pings points at the path to WeCom (proxy, NAT)",
      );
    }
    return conn;
  }

  /** The zombie-session test: does a message reach the new connection? */
  async #waitMessage(
    conn: Conn,
    wait: { readonly timeoutMs: number; readonly prompt: (text: string) => void },
  ): Promise<void> {
    const started = performance.now();
    const before = conn.callbacks.length;
    wait.prompt(
      `Send the bot a message now, in a DM or in a group that has the bot (waiting up to ${
        round(wait.timeoutMs / 1000)
      } s for it on the new connection)`,
    );
    const deadline = started + wait.timeoutMs;
    let nextPing = started + (this.#o.intervalMs ?? 30_000);
    // Keep pinging while waiting, as a client does, or the server may drop the idle link.
    while (conn.callbacks.length === before && !conn.closed && conn.takeoverAt === undefined) {
      const now = performance.now();
      if (now >= deadline) break;
      if (now >= nextPing) {
        nextPing = now + (this.#o.intervalMs ?? 30_000);
        void ping(conn, this.#o.heartbeatTimeoutMs ?? 10_000);
      }
      await this.#pause(conn, Math.min(deadline, nextPing) - now);
    }
    const arrived = conn.callbacks[before];
    if (arrived !== undefined) {
      this.#step({
        name: "message",
        ok: true,
        ms: round(arrived - started),
        detail: "a callback arrived on the new connection",
      });
      return;
    }
    this.#step({
      name: "message",
      ok: false,
      ms: elapsed(started),
      detail: conn.closed || conn.takeoverAt !== undefined
        ? "the link ended before a message arrived"
        : "no callback arrived",
    });
    if (conn.closed || conn.takeoverAt !== undefined) return;
    this.#find(
      "no_message",
      `No message reached the new connection within ${
        round(wait.timeoutMs / 1000)
      } s although it is subscribed and answers pings: WeCom routes this bot's messages elsewhere, most likely to a stale (zombie) session an earlier client left with another device_id`,
      "Keep $HERMES_HOME/platforms/wecom/device_ids.json (the gateway subscribes with that device_id, which replaces its own stale session); stop every other client of this bot; if the stale session is not ours, it ends when WeCom notices it is dead: try again later. Also check that the sender is in the bot's visible range",
    );
  }

  /** A takeover or a close by the server on `conn`: a finding, once. */
  #lost(conn: Conn, during: string): boolean {
    if (conn.takeoverAt === undefined && !conn.closed) return false;
    if (this.#lostReported) return true;
    this.#lostReported = true;
    const since = conn.subscribedAt ?? performance.now();
    if (conn.takeoverAt !== undefined) {
      this.#find(
        "takeover",
        `WeCom sent disconnected_event ${
          seconds(conn.takeoverAt - since)
        } after the subscribe (during ${during}): another client subscribed with bot id ${this.#o.botId} and took the bot over (takeover)`,
        TAKEOVER_FIX,
      );
    } else if (conn.closed && conn.closed.at - since <= RIGHT_AFTER_SUBSCRIBE_MS) {
      this.#find(
        "takeover",
        `The server closed the link ${
          Math.round(conn.closed.at - since)
        } ms after the subscribe (during ${during}; ${conn.closed.reason}): another client holds this bot and subscribed again right after the probe (takeover)`,
        TAKEOVER_FIX,
      );
    } else if (conn.closed) {
      this.#find(
        "link_dropped",
        `The server closed the link ${
          seconds(conn.closed.at - since)
        } after the subscribe (during ${during}; ${conn.closed.reason})`,
        "Run the probe again; links that keep dropping point at the network path (proxy, NAT or firewall idle timeouts) or at another client of this bot",
      );
    }
    return true;
  }

  #takeoverStep(): void {
    if (this.#firstSubscribe === undefined) return;
    const taken = this.#findings.find((f) => f.code === "takeover");
    const dropped = this.#findings.find((f) => f.code === "link_dropped");
    this.#step({
      name: "takeover",
      ok: !taken,
      ms: elapsed(this.#firstSubscribe),
      detail: taken
        ? taken.message
        : dropped
        ? "no disconnected_event (the link was dropped, see below)"
        : "no disconnected_event, and the server never closed the link",
    });
  }

  /** Sleeps `ms`, or less when `conn` ends or hears something. */
  #pause(conn: Conn, ms: number): Promise<void> {
    if (ms <= 0 || conn.closed || conn.takeoverAt !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        conn.listeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      conn.listeners.add(done);
    });
  }

  #close(conn: Conn): void {
    conn.ours = true;
    conn.socket.close("the probe closed it");
  }
}

/** One ping: its ack time in ms, `missed`, `interrupted` (the link ended) or the refusal. */
async function ping(
  conn: Conn,
  timeoutMs: number,
): Promise<number | "missed" | "interrupted" | WecomRequestError> {
  const started = performance.now();
  try {
    await conn.socket.request("ping", {}, { prefix: "ping", timeoutMs });
    return performance.now() - started;
  } catch (error) {
    if (error instanceof WecomRequestError) return error;
    if (error instanceof WecomLinkError && error.platformCode === "timeout") return "missed";
    return "interrupted";
  }
}

function isDisconnectedEvent(frame: WecomFrame): boolean {
  const event = frame.body?.event;
  return frame.cmd === "aibot_event_callback" && typeof event === "object" && event !== null &&
    (event as Record<string, unknown>).eventtype === "disconnected_event";
}

async function resolve(
  host: string,
  timeoutMs: number,
): Promise<{ ms: number; addresses: string[]; error?: string }> {
  const started = performance.now();
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new Error(`no answer within ${timeoutMs / 1000} s`)),
    timeoutMs,
  );
  const { signal } = abort;
  const answers = await Promise.allSettled([
    Deno.resolveDns(host, "A", { signal }),
    Deno.resolveDns(host, "AAAA", { signal }),
  ]);
  clearTimeout(timer);
  const addresses = answers.flatMap((a) => a.status === "fulfilled" ? a.value : []);
  const ms = elapsed(started);
  if (addresses.length > 0) return { ms, addresses };
  const failure = answers.find((a) => a.status === "rejected");
  return { ms, addresses, error: failure ? message(failure.reason) : "no address" };
}

/** A TCP connection, or why there is none. */
async function connectTcp(host: string, port: number, timeoutMs: number) {
  const connecting = Deno.connect({ hostname: host, port });
  try {
    const tcp = await raceTimeout(connecting, timeoutMs);
    if (tcp !== TIMED_OUT) return tcp;
    connecting.then(closeQuietly, () => {});
    return `no connection within ${timeoutMs / 1000} s`;
  } catch (error) {
    return message(error);
  }
}

/** Undefined when the TLS handshake succeeds (the connection is then closed), else why not. */
async function handshakeTls(
  tcp: Deno.TcpConn,
  host: string,
  timeoutMs: number,
): Promise<string | undefined> {
  let tls: Deno.TlsConn | undefined;
  try {
    const done = Deno.startTls(tcp, { hostname: host }).then(async (conn) => {
      tls = conn;
      await conn.handshake();
    });
    const outcome = await raceTimeout(done, timeoutMs);
    if (outcome === TIMED_OUT) {
      done.catch(() => {}).finally(() => tls && closeQuietly(tls));
      return `no handshake within ${timeoutMs / 1000} s`;
    }
    return undefined;
  } catch (error) {
    return message(error);
  } finally {
    if (tls) closeQuietly(tls);
  }
}

function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

function elapsed(since: number): number {
  return round(performance.now() - since);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
