/**
 * The Weixin platform against the iLink simulator (`deno task bench`): a
 * real gateway subprocess (echo agent, open policies, no text batching, no
 * pause between bubbles) polling the simulator in this process over real
 * sockets on 127.0.0.1.
 *
 * Reports replies per second and p50/p99 latency from a message being
 * queued in the simulator to its reply's sendmessage being accepted, with 1
 * peer (send, wait for the reply, next) and with 20 peers in parallel (each
 * sequential), for the gateway and for a minimal raw client of our own
 * (long-poll, answer each message at once, one sendmessage at a time like
 * the gateway), so the gateway reads as a ratio of the simulator's own
 * round trip; the gateway's CPU time per reply; and its resident memory
 * with the poll loop running, idle and after the replies. `BENCH_MESSAGES`
 * changes the 1,000 messages of each 20-peer run (the 1-peer runs send half).
 *
 * @module
 */

import { IlinkServer } from "../fakes/ilink_server.ts";
import { startWeixinGateway } from "../e2e/_weixin.ts";
import { cpuSeconds, rssMiB } from "./_proc.ts";

const MESSAGES = Number(Deno.env.get("BENCH_MESSAGES") ?? 1_000);
const PEERS = 20;
const REPLY_TIMEOUT_MS = 15_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Run {
  messages: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** Resolves per text when the simulator accepted a sendmessage carrying it. */
class ReplyClock {
  readonly #waiting = new Map<string, (at: number) => void>();
  #seen = 0;
  #running = true;
  readonly #loop: Promise<void>;

  constructor(readonly ilink: IlinkServer) {
    this.#loop = this.#pump();
  }

  wait(text: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`No reply "${text}" within ${REPLY_TIMEOUT_MS} ms`)),
        REPLY_TIMEOUT_MS,
      );
      this.#waiting.set(text, (at) => {
        clearTimeout(timer);
        resolve(at);
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
        await this.ilink.waitForSent(this.#seen + 1, 200);
      } catch {
        continue; // nothing for 200 ms
      }
      const at = performance.now();
      for (; this.#seen < this.ilink.sent.length; this.#seen++) {
        const text = this.ilink.sent[this.#seen]!.text;
        this.#waiting.get(text)?.(at);
        this.#waiting.delete(text);
      }
    }
  }
}

/** `messages` over `peers` in parallel, each peer sending after its previous reply. */
async function run(clock: ReplyClock, label: string, peers: number, messages: number) {
  const perPeer = Math.ceil(messages / peers);
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: peers }, async (_, p) => {
    for (let i = 0; i < perPeer; i++) {
      const text = `${label} ${p}/${i}: about the quarterly weather report, 天气很好`;
      const sentAt = performance.now();
      clock.ilink.inbound({ from: `${label}-${p}@im.wechat`, text });
      latencies.push(await clock.wait(text) - sentAt);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const quantile = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return {
    messages: latencies.length,
    perSecond: latencies.length / seconds,
    p50: quantile(0.5),
    p99: quantile(0.99),
  };
}

/** The smallest client that answers: long-polls and echoes each message, one send at a time. */
function rawClient(ilink: IlinkServer): { stop(): Promise<void> } {
  const abort = new AbortController();
  const post = async (endpoint: string, payload: Record<string, unknown>) => {
    const response = await fetch(`${ilink.url}/ilink/bot/${endpoint}`, {
      method: "POST",
      signal: abort.signal,
      headers: {
        "Content-Type": "application/json",
        "AuthorizationType": "ilink_bot_token",
        "X-WECHAT-UIN": btoa(String(Math.floor(Math.random() * 2 ** 32))),
        "iLink-App-Id": "bot",
        "iLink-App-ClientVersion": "131584",
        "Authorization": `Bearer ${ilink.token}`,
      },
      body: JSON.stringify({ ...payload, base_info: { channel_version: "2.2.0" } }),
    });
    return await response.json();
  };
  const loop = (async () => {
    let cursor = "";
    let n = 0;
    while (!abort.signal.aborted) {
      const answer = await post("getupdates", { get_updates_buf: cursor }).catch(() => undefined);
      if (!answer) continue;
      cursor = answer.get_updates_buf ?? cursor;
      for (const m of answer.msgs ?? []) {
        await post("sendmessage", {
          msg: {
            from_user_id: "",
            to_user_id: m.from_user_id,
            client_id: `raw-${n++}`,
            message_type: 2,
            message_state: 2,
            item_list: [{ type: 1, text_item: { text: m.item_list[0].text_item.text } }],
            context_token: m.context_token,
          },
        }).catch(() => {});
      }
    }
  })();
  return {
    async stop() {
      abort.abort();
      await loop;
    },
  };
}

const raw = await (async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 30_000 });
  const client = rawClient(ilink);
  const clock = new ReplyClock(ilink);
  try {
    await run(clock, "raw-warm", 1, 100);
    return {
      one: await run(clock, "raw-1", 1, MESSAGES / 2),
      many: await run(clock, "raw-20", PEERS, MESSAGES),
    };
  } finally {
    await clock.stop();
    await client.stop();
  }
})();

await using setup = await startWeixinGateway({
  env: { HERMES_LOG_LEVEL: "warn" },
  server: { longPollMs: 30_000 },
});
const pid = setup.gateway.pid;
const clock = new ReplyClock(setup.ilink);
await sleep(1000);
const rssIdle = rssMiB(pid);
await run(clock, "gw-warm", 1, 100);
let cpu = cpuSeconds(pid);
const one = await run(clock, "gw-1", 1, MESSAGES / 2);
const oneCpu = cpuSeconds(pid) - cpu;
cpu = cpuSeconds(pid);
const many = await run(clock, "gw-20", PEERS, MESSAGES);
const manyCpu = cpuSeconds(pid) - cpu;
await clock.stop();
await sleep(1000);
const rssAfter = rssMiB(pid);

const row = (name: string, r: Run, base?: Run) =>
  `${name.padEnd(24)} ${String(r.messages).padStart(5)} ${r.perSecond.toFixed(0).padStart(7)} ${
    r.p50.toFixed(2).padStart(8)
  } ${r.p99.toFixed(2).padStart(8)}${
    base
      ? `   replies/s ${(r.perSecond / base.perSecond).toFixed(2)}x, p50 ${
        (r.p50 / base.p50).toFixed(1)
      }x, p99 ${(r.p99 / base.p99).toFixed(1)}x`
      : ""
  }`;
const busy = (r: Run, used: number) =>
  `${(used / r.messages * 1000).toFixed(2)} ms CPU per reply, ${
    (used / (r.messages / r.perSecond) * 100).toFixed(0)
  }% of a core`;
console.log(
  `Weixin (iLink) vs simulator, echo agent, 127.0.0.1 (${Deno.build.target}, deno ${Deno.version.deno})`,
);
console.log("run (queued -> sent)      msgs  reply/s   p50 ms   p99 ms   gateway vs raw");
console.log(row("raw client, 1 peer", raw.one));
console.log(row("gateway, 1 peer", one, raw.one));
console.log(row(`raw client, ${PEERS} peers`, raw.many));
console.log(row(`gateway, ${PEERS} peers`, many, raw.many));
console.log(`gateway CPU: 1 peer ${busy(one, oneCpu)}; ${PEERS} peers ${busy(many, manyCpu)}`);
console.log(
  `gateway RSS: ${rssIdle.toFixed(1)} MiB idle with the poll loop running, ${
    rssAfter.toFixed(1)
  } MiB after ${100 + one.messages + many.messages} replies`,
);
