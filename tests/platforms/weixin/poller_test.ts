import assert from "node:assert/strict";
import { IlinkClient } from "../../../lib/platforms/weixin/api.ts";
import { type PollerOptions, WeixinPoller } from "../../../lib/platforms/weixin/poller.ts";
import { LinkHealthTracker } from "../../../lib/platforms/health.ts";
import { lineSink, Logger } from "../../../lib/util/log.ts";
import { SecretMasker } from "../../../lib/util/secret_mask.ts";
import { Faults, IlinkServer, type RequestRecord } from "../../fakes/ilink_server.ts";

/** A promise and the functions that settle it. */
function gate<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check()` holds, for at most `ms`. */
async function until(check: () => boolean, ms = 3000, what = "the condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** The cursor a getupdates request asked from. */
const cursorOf = (request: RequestRecord | undefined) =>
  (request?.body as { get_updates_buf?: string } | undefined)?.get_updates_buf;

/** The text of each message of a batch. */
const texts = (messages: readonly unknown[]) =>
  messages.map((m) =>
    ((m as { item_list: { text_item: { text: string } }[] }).item_list[0]!).text_item.text
  );

/** A poller of the simulator, recording batches, saved cursors and log lines. */
function poller(ilink: IlinkServer, options: Partial<PollerOptions> & { token?: string } = {}) {
  const batches: string[][] = [];
  const saved: string[] = [];
  const lines: string[] = [];
  const health = new LinkHealthTracker();
  const log = new Logger({
    level: "debug",
    sinks: [lineSink("json", (line) => lines.push(line))],
    masker: new SecretMasker(),
  });
  const poller = new WeixinPoller({
    api: new IlinkClient({ baseUrl: ilink.url, token: options.token ?? ilink.token }),
    cursor: "",
    health,
    log,
    sessionPauseMs: 60_000,
    onBatch: (messages) => {
      batches.push(texts(messages));
      return Promise.resolve();
    },
    saveCursor: (cursor) => {
      saved.push(cursor);
      return Promise.resolve();
    },
    ...options,
  });
  return {
    poller,
    batches,
    saved,
    lines,
    health,
    async [Symbol.asyncDispose]() {
      await poller.stop();
    },
  };
}

Deno.test("the cursor of a batch is saved only once onBatch has resolved", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 30_000 });
  ilink.inbound({ text: "one" });
  const taken = gate();
  const batches: string[][] = [];
  await using p = poller(ilink, {
    onBatch: (messages) => {
      batches.push(texts(messages));
      return taken.promise;
    },
  });
  await p.poller.start();
  assert.deepEqual(batches, [["one"]]);
  // The loop goes on polling from the new cursor while the batch is being journaled ...
  const [, second] = await ilink.waitForRequests("getupdates", 2);
  const next = cursorOf(second);
  assert.ok(next && next !== "", "the second poll asks from the batch's cursor");
  await sleep(150);
  assert.deepEqual(p.saved, [], "nothing is saved while the batch is not journaled");
  // ... and saves the cursor only once the batch is.
  taken.resolve();
  await until(() => p.saved.length > 0, 3000, "the cursor to be saved");
  assert.deepEqual(p.saved, [next]);
});

Deno.test("a batch that could not be journaled is polled again from the saved cursor, and then saved", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 30_000 });
  ilink.inbound({ text: "lost once" });
  let n = 0;
  await using p = poller(ilink, {
    failureDelayMs: 100,
    onBatch: (messages) => {
      p.batches.push(texts(messages));
      return ++n === 1 ? Promise.reject(new Error("journal full")) : Promise.resolve();
    },
  });
  await p.poller.start();
  await until(() => p.batches.length === 2, 5000, "the batch polled again");
  await until(() => p.saved.length === 1, 3000, "its cursor saved");
  await p.poller.stop();
  assert.deepEqual(p.batches, [["lost once"], ["lost once"]], "the same batch, again");
  assert.ok(p.lines.some((line) => line.includes("could not be journaled")), p.lines.join("\n"));
  const polls = ilink.requestsTo("getupdates").map((r) =>
    (r.body as { get_updates_buf: string }).get_updates_buf
  );
  assert.ok(
    polls.slice(1).includes(polls[0]!),
    `a later poll starts again from the cursor before the batch: ${polls}`,
  );
});

Deno.test("a batch that fails while the cursor before it is being saved blocks later cursors, and crashes nothing", async () => {
  // The gateway installs no unhandledrejection handler: an unhandled rejection ends the process.
  const unhandled: unknown[] = [];
  const onUnhandled = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    unhandled.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  using _listening = {
    [Symbol.dispose]: () => globalThis.removeEventListener("unhandledrejection", onUnhandled),
  };
  await using ilink = await IlinkServer.start({ longPollMs: 30_000 });
  ilink.inbound({ text: "one" });
  const slowSave = gate();
  let n = 0;
  await using p = poller(ilink, {
    onBatch: (messages) => {
      p.batches.push(texts(messages));
      return ++n === 2 ? Promise.reject(new Error("journal full")) : Promise.resolve();
    },
    saveCursor: async (cursor) => {
      p.saved.push(cursor);
      await slowSave.promise;
    },
  });
  await p.poller.start();
  const [, second] = await ilink.waitForRequests("getupdates", 2);
  await until(() => p.saved.length === 1, 3000, "the first save to start");
  ilink.inbound({ text: "two" });
  await until(() => p.batches.length === 2, 3000, "the second batch");
  // The second batch was refused while the first cursor was still being written.
  await sleep(100);
  slowSave.resolve();
  ilink.inbound({ text: "three" });
  await until(() => p.batches.length === 3, 3000, "the third batch");
  await p.poller.stop();
  assert.deepEqual(p.saved, [cursorOf(second)], "only the cursor of the journaled batch");
  assert.deepEqual(
    unhandled.map(String),
    [],
    "the refused batch is an unhandled rejection (the gateway process would exit)",
  );
});

Deno.test("a restarted poller resumes from the saved cursor: nothing is polled twice", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 30_000 });
  ilink.inbound({ text: "one" });
  const first = poller(ilink);
  await first.poller.start();
  await until(() => first.saved.length === 1, 3000, "the cursor to be saved");
  await first.poller.stop();
  ilink.inbound({ text: "two" });
  await using second = poller(ilink, {
    cursor: first.saved[0]!,
    onBatch: (messages) => {
      second.batches.push(texts(messages));
      return Promise.resolve();
    },
  });
  await second.poller.start();
  assert.deepEqual(second.batches, [["two"]]);
});

Deno.test("an expired session (−14) pauses polling for sessionPauseMs and shows retrying", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 30_000 });
  ilink.inbound({ text: "one" });
  ilink.failNext("getupdates", { delayMs: 0 }); // the first poll answers as usual
  ilink.failNext("getupdates", Faults.sessionExpired);
  await using p = poller(ilink, { sessionPauseMs: 400, failureDelayMs: 20_000 });
  await p.poller.start();
  const [, expired] = await ilink.waitForRequests("getupdates", 2);
  await sleep(100);
  const during = p.health.snapshot();
  assert.equal(during.state, "retrying");
  assert.equal(during.last_error?.code, "session_expired");
  assert.match(during.last_error?.message ?? "", /session expired/);
  assert.equal(typeof during.details.poll_paused_until, "string");
  assert.equal(ilink.requestsTo("getupdates").length, 2, "no poll during the pause");
  const [, , after] = await ilink.waitForRequests("getupdates", 3, 3000);
  const pause = after!.at - expired!.at;
  assert.ok(pause >= 380 && pause < 3000, `polled again after ${pause} ms`);
  ilink.inbound({ text: "two" }); // the held poll answers
  await until(() => p.health.state === "subscribed", 1000, "the link to be up again");
  assert.equal(p.health.snapshot().details.poll_paused_until, null);
  assert.ok(p.lines.some((line) => line.includes("Session expired")), p.lines.join("\n"));
});

Deno.test("3 failures in a row wait streakDelayMs, then the count starts again", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 30_000 });
  ilink.inbound({ text: "one" });
  ilink.failNext("getupdates", { delayMs: 0 });
  ilink.failNext("getupdates", { http: 500 }, 4);
  await using p = poller(ilink, { failureDelayMs: 50, streakDelayMs: 700 });
  await p.poller.start();
  const polls = await ilink.waitForRequests("getupdates", 6, 5000);
  const gaps = polls.slice(2).map((r, i) => r.at - polls[i + 1]!.at);
  const [first, second, streak, again] = gaps as [number, number, number, number];
  assert.ok(first >= 40 && first < 400, `after the 1st failure: ${first} ms`);
  assert.ok(second >= 40 && second < 400, `after the 2nd failure: ${second} ms`);
  assert.ok(streak >= 680 && streak < 2500, `after the 3rd failure: ${streak} ms`);
  assert.ok(again >= 40 && again < 400, `after the 4th failure (a new streak): ${again} ms`);
  assert.equal(p.health.snapshot().last_error?.code, "http");
});

Deno.test("stop() during a held poll returns promptly and saves the last cursor first", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 30_000 });
  ilink.inbound({ text: "one" });
  await using p = poller(ilink, {
    onBatch: async (messages) => {
      p.batches.push(texts(messages));
      await sleep(300); // still being journaled when stop() is called
    },
  });
  await p.poller.start();
  const [, held] = await ilink.waitForRequests("getupdates", 2);
  const started = performance.now();
  await p.poller.stop();
  const took = performance.now() - started;
  assert.ok(took < 1500, `stop() took ${took} ms`);
  assert.deepEqual(p.saved, [cursorOf(held)], "the cursor of the batch taken is saved");
  await sleep(100);
  assert.equal(ilink.requestsTo("getupdates").length, 2, "no poll after stop()");
});

Deno.test("stop() during an idle held poll returns promptly", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 30_000 });
  await using p = poller(ilink);
  await p.poller.start(); // held: resolves once the first poll has waited a while
  assert.equal(p.health.state, "subscribed");
  const started = performance.now();
  await p.poller.stop();
  assert.ok(performance.now() - started < 1000);
  assert.deepEqual(p.saved, [], "the cursor did not change");
});

Deno.test("a session refused at the first poll (a wrong token) pauses polling, it is not a failed start", async () => {
  await using ilink = await IlinkServer.start({ longPollMs: 30_000 });
  await using p = poller(ilink, { token: "wrong-token" });
  await p.poller.start();
  await sleep(300);
  assert.equal(ilink.requestsTo("getupdates").length, 1, "no poll during the pause");
  assert.equal(p.health.state, "retrying");
  assert.match(String(p.health.snapshot().last_error?.message), /hermes weixin login/);
});
