/**
 * The WeCom AI Bot platform against the simulator (`deno task bench`): a
 * real gateway subprocess (echo agent, open policies, no text batching)
 * subscribed to the simulator running in this process, over real sockets on
 * 127.0.0.1.
 *
 * Reports messages per second and p50/p99 latency from a callback leaving
 * the simulator to the reply frame for its req_id arriving there, with 1 DM
 * chat (send, wait for the reply, next) and with 20 DM chats in parallel
 * (each sequential), for the gateway and for a minimal raw client of our own
 * (subscribe, answer each callback at once), so the gateway reads as a
 * ratio of the simulator's own round trip, and the gateway's CPU time per
 * message. Then the time the gateway needs to give up a half-open link
 * (heartbeat 1 s, timeout 0.5 s: at most 2 s) and to be subscribed again,
 * and its resident memory idle and after the messages. `BENCH_MESSAGES`
 * changes the 2,000 messages of each 20-chat run (the 1-chat runs send half).
 *
 * @module
 */

import { type FrameRecord, WecomServer } from "../fakes/wecom_server.ts";
import { BOT, SECRET, startWecomGateway } from "../e2e/_wecom.ts";
import { cpuSeconds, rssMiB } from "./_proc.ts";

const MESSAGES = Number(Deno.env.get("BENCH_MESSAGES") ?? 2_000);
const CHATS = 20;
const DROPS = 5;
const HEARTBEAT_S = 1;
const TIMEOUT_S = 0.5;
const REPLY_TIMEOUT_MS = 15_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves, per req_id, when the simulator has received the reply frame for
 * it: one waiter on the simulator that reads each new frame once, so the
 * cost does not grow with the frames already recorded.
 */
class ReplyClock {
  readonly #sim: WecomServer;
  readonly #waiting = new Map<
    string,
    { text: string; resolve: (at: number) => void; reject: (error: Error) => void }
  >();
  #cursor = 0;
  #running = true;
  readonly #loop: Promise<void>;

  constructor(sim: WecomServer) {
    this.#sim = sim;
    this.#loop = this.#pump();
  }

  /** Resolves with `performance.now()` at the reply's arrival; checks it carries `text`. */
  wait(reqId: string, text: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(reqId);
        reject(new Error(`No reply for req_id ${reqId} ("${text}") within ${REPLY_TIMEOUT_MS} ms`));
      }, REPLY_TIMEOUT_MS);
      this.#waiting.set(reqId, {
        text,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  async #pump(): Promise<void> {
    while (this.#running) {
      try {
        await this.#sim.waitForFrame(() => true, 200, this.#cursor);
      } catch {
        continue; // nothing arrived for 200 ms
      }
      const at = performance.now();
      const frames = this.#sim.frames;
      for (; this.#cursor < frames.length; this.#cursor++) this.#take(frames[this.#cursor]!, at);
    }
  }

  #take(record: FrameRecord, at: number): void {
    const frame = record.frame;
    if (frame?.cmd !== "aibot_respond_msg" || record.lost) return;
    const reqId = frame.headers?.req_id ?? "";
    const waiter = this.#waiting.get(reqId);
    if (!waiter) return;
    this.#waiting.delete(reqId);
    const content = (frame.body?.markdown as { content?: unknown } | undefined)?.content;
    if (content === waiter.text) waiter.resolve(at);
    else {waiter.reject(
        new Error(`Reply to ${reqId} is ${JSON.stringify(content)}, not "${waiter.text}"`),
      );}
  }
}

interface Run {
  chats: number;
  messages: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** `messages` DMs over `chats` users in parallel, each user sending after its previous reply. */
async function run(
  sim: WecomServer,
  clock: ReplyClock,
  label: string,
  chats: number,
  messages: number,
): Promise<Run> {
  const perChat = Math.ceil(messages / chats);
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: chats }, async (_, c) => {
    for (let i = 0; i < perChat; i++) {
      const text = `${label} ${c}/${i} about the quarterly weather report 天气很好`;
      const sentAt = performance.now();
      const { reqId } = sim.callback(BOT, { chatType: "dm", userId: `${label}-${c}`, text });
      latencies.push(await clock.wait(reqId, text) - sentAt);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    chats,
    messages: latencies.length,
    perSecond: latencies.length / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
  };
}

/** The smallest client that answers: subscribe, then a markdown echo of every callback. */
async function rawClient(url: string): Promise<{ close(): Promise<void> }> {
  const ws = new WebSocket(url);
  const closed = new Promise((resolve) => ws.onclose = resolve);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`Cannot open ${url}: the raw client's handshake failed`));
  });
  let subscribed: (errcode: number) => void = () => {};
  const acked = new Promise<number>((resolve) => subscribed = resolve);
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.cmd === "aibot_msg_callback") {
      ws.send(JSON.stringify({
        cmd: "aibot_respond_msg",
        headers: { req_id: frame.headers.req_id },
        body: { msgtype: "markdown", markdown: { content: frame.body.text.content } },
      }));
    } else if (frame.headers?.req_id === "raw-subscribe") subscribed(frame.errcode);
  };
  ws.send(JSON.stringify({
    cmd: "aibot_subscribe",
    headers: { req_id: "raw-subscribe" },
    body: { bot_id: BOT, secret: SECRET, device_id: "raw-bench-client" },
  }));
  const errcode = await acked;
  if (errcode !== 0) throw new Error(`Cannot subscribe the raw client: errcode ${errcode}`);
  return {
    async close() {
      ws.close();
      await closed;
    },
  };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function median(values: number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

// The simulator's own round trip, on a simulator of its own.
const raw = await (async () => {
  await using sim = await WecomServer.start();
  const client = await rawClient(sim.url);
  const clock = new ReplyClock(sim);
  try {
    await run(sim, clock, "raw-warm", 1, 200);
    return {
      one: await run(sim, clock, "raw-1", 1, MESSAGES / 2),
      many: await run(sim, clock, "raw-20", CHATS, MESSAGES),
    };
  } finally {
    await clock.stop();
    await client.close();
  }
})();

await using setup = await startWecomGateway({
  env: {
    HERMES_LOG_LEVEL: "warn",
    WECOM_HEARTBEAT_INTERVAL_SECONDS: String(HEARTBEAT_S),
    WECOM_HEARTBEAT_TIMEOUT_SECONDS: String(TIMEOUT_S),
  },
});
const { wecom: sim, gateway } = setup;
const clock = new ReplyClock(sim);
await sleep(1000);
const rssIdle = rssMiB(gateway.pid);
await run(sim, clock, "gw-warm", 1, 200);
let cpu = cpuSeconds(gateway.pid);
const one = await run(sim, clock, "gw-1", 1, MESSAGES / 2);
const oneCpu = cpuSeconds(gateway.pid) - cpu;
cpu = cpuSeconds(gateway.pid);
const many = await run(sim, clock, "gw-20", CHATS, MESSAGES);
const manyCpu = cpuSeconds(gateway.pid) - cpu;
await clock.stop();
await sleep(1000);
const rssAfter = rssMiB(gateway.pid);
const answered = 200 + one.messages + many.messages;

// Half-open links: dropped at a random moment of the heartbeat cycle.
const detected: number[] = [];
const resubscribed: number[] = [];
for (let i = 0; i < DROPS; i++) {
  await sleep(1500 + Math.random() * HEARTBEAT_S * 1000);
  const before = sim.subscribes(BOT);
  const droppedAt = Date.now();
  const started = performance.now();
  const [conn] = sim.drop(BOT, "half-open");
  await sim.waitForSubscribe(BOT, before + 1, 20_000);
  resubscribed.push((performance.now() - started) / 1000);
  // The gateway gives the link up with a close frame the deaf server still records.
  const close = sim.controlFrames.find((c) => c.conn === conn && c.kind === "close");
  if (close) detected.push((close.at - droppedAt) / 1000);
}

const bound = HEARTBEAT_S + 2 * TIMEOUT_S;
const row = (name: string, r: Run, base?: Run) =>
  `${name.padEnd(26)} ${String(r.messages).padStart(5)} ${r.perSecond.toFixed(0).padStart(7)} ${
    r.p50.toFixed(2).padStart(8)
  } ${r.p99.toFixed(2).padStart(8)}${
    base
      ? `   msg/s ${(r.perSecond / base.perSecond).toFixed(2)}x, p50 ${
        (r.p50 / base.p50).toFixed(1)
      }x, p99 ${(r.p99 / base.p99).toFixed(1)}x`
      : ""
  }`;

console.log(
  `WeCom AI Bot vs simulator, echo agent, 127.0.0.1 (${Deno.build.target}, deno ${Deno.version.deno})`,
);
console.log("run (callback -> reply)     msgs   msg/s   p50 ms   p99 ms   gateway vs raw");
console.log(row("raw client, 1 chat", raw.one));
console.log(row("gateway, 1 chat", one, raw.one));
console.log(row(`raw client, ${CHATS} chats`, raw.many));
console.log(row(`gateway, ${CHATS} chats`, many, raw.many));
const busy = (r: Run, used: number) =>
  `${(used / r.messages * 1000).toFixed(2)} ms CPU per message, ${
    (used / (r.messages / r.perSecond) * 100).toFixed(0)
  }% of a core`;
console.log(
  `gateway CPU: 1 chat ${busy(one, oneCpu)}; ${CHATS} chats ${busy(many, manyCpu)}`,
);
const againstBound = (values: number[]) =>
  `median ${median(values).toFixed(2)} s, worst ${Math.max(...values).toFixed(2)} s (${
    (Math.max(...values) / bound).toFixed(2)
  }x the bound)`;
console.log(
  `half-open link, ${DROPS} drops (heartbeat ${HEARTBEAT_S} s, timeout ${TIMEOUT_S} s: bound ${
    bound.toFixed(1)
  } s):`,
);
console.log(
  `  given up (its close frame)  ${
    detected.length === DROPS ? againstBound(detected) : `only ${detected.length} of ${DROPS} seen`
  }`,
);
console.log(`  subscribed again            ${againstBound(resubscribed)}, with a 0.5-1 s backoff`);
console.log(
  `gateway RSS: ${rssIdle.toFixed(1)} MiB idle with the link up, ${
    rssAfter.toFixed(1)
  } MiB after ${answered} messages`,
);
