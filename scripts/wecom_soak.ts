/**
 * A soak of the WeCom AI Bot platform against the simulator:
 *
 * ```sh
 * deno run -A scripts/wecom_soak.ts --minutes 30   # the default
 * deno run -A scripts/wecom_soak.ts --minutes 1    # a smoke run
 * ```
 *
 * A real gateway subprocess in a temporary home (echo agent, open policies,
 * heartbeat 5 s with a 2 s timeout) gets about 3 messages a second across 10
 * chats, 7 of them groups, each message with a text of its own, while the
 * simulator in this process ends the link every minute (close, reset and
 * half-open in turn), drops the subscription and refuses replies with 846609
 * for a minute (the storm), and lets another client take the bot for 10 s.
 * Shorter runs scale the schedule down. At the end it waits (at most 3
 * minutes) for every message to be answered and prints what was sent,
 * answered once, answered more than once, lost, the reconnects the simulator
 * saw, the gateway's RSS (start, end, peak of samples every 10 s) and
 * `gateway status --json`'s `platforms.wecom`. Progress goes to stderr, the
 * report to stdout. Exits 1 when a message was lost, answered more than once
 * or answered with the wrong text (the gateway's log is then kept).
 *
 * Settings the schedule needs, beyond tests/e2e/_wecom.ts's:
 * - `HERMES_BUSY_POLICY=queue`: the backlog a link outage leaves is flushed
 *   at once, and under the default `interrupt` only the newest message of
 *   each session would be answered, by design;
 * - `WECOM_IDLE_RESUBSCRIBE_SECONDS=10`: a dropped subscription with no reply
 *   waiting is only noticed by the inbound-silence watchdog;
 * - `WECOM_SUPERSEDED_RETRY_SECONDS=20`: the step back after the takeover.
 *
 * Messages the simulator routes to the takeover client while it holds the
 * bot are that client's to answer, not the gateway's: they are counted
 * apart. Messages that arrive after it let go and before the gateway is back
 * wait in the simulator for the next subscriber and are owed a reply.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type {
  DropMode,
  FrameRecord,
  TakeoverHandle,
  WecomFrame,
  WecomServer,
} from "../tests/fakes/wecom_server.ts";
import { BOT, gatewayStatus, startWecomGateway } from "../tests/e2e/_wecom.ts";

const RATE_PER_SECOND = 3;
const SUPERSEDED_RETRY_S = 20;
const FINAL_WAIT_MS = 180_000;
const DROP_MODES: DropMode[] = ["close", "reset", "half-open"];
const GROUPS = Array.from({ length: 7 }, (_, i) => `soak-group-${i + 1}`);
const DMS = Array.from({ length: 3 }, (_, i) => `soak-dm-user-${i + 1}`);
const GROUP_USERS = ["lisi", "wangwu", "zhaoliu", "sunqi"];
/**
 * A drop waits until the link is this old: a server that closes two links
 * in a row within 5 s of their subscribe reads as another client holding
 * our device_id, and the gateway steps back (link.ts); short runs would
 * test that instead of a plain reconnect.
 */
const MIN_LINK_AGE_MS = 6_000;

/** When each disturbance happens, for a run of `minutes`. */
interface Schedule {
  durationMs: number;
  dropEveryMs: number;
  storm: { at: number; ms: number };
  takeover: { at: number; ms: number };
}

function schedule(minutes: number): Schedule {
  const durationMs = minutes * 60_000;
  return {
    durationMs,
    dropEveryMs: Math.min(60_000, durationMs / 10),
    storm: { at: durationMs * 0.45, ms: Math.min(60_000, durationMs / 6) },
    takeover: { at: durationMs * 0.7, ms: Math.min(10_000, durationMs / 10) },
  };
}

/** One message sent. */
interface Sent {
  n: number;
  text: string;
  /** What the echo agent answers: a group's text without the leading mention. */
  expected: string;
  reqId: string;
  chat: string;
  user: string;
  /** ms since the start. */
  at: number;
  /** Held by the simulator (link down or unsubscribed) rather than written at once. */
  queued: boolean;
}

/** What the run shares. */
interface Soak {
  sim: WecomServer;
  plan: Schedule;
  started: number;
  /** Date.now() at the start, for the simulator's record times. */
  startedAt: number;
  sent: Map<string, Sent>;
  events: string[];
  takeover?: TakeoverHandle;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const elapsed = (soak: Soak) => performance.now() - soak.started;
const stamp = (soak: Soak) => `[${(elapsed(soak) / 1000).toFixed(0).padStart(5)} s]`;

function event(soak: Soak, line: string): void {
  soak.events.push(`${stamp(soak)} ${line}`);
  console.error(`${stamp(soak)} ${line}`);
}

function rssMiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN; // the gateway is gone
  }
}

/** About RATE_PER_SECOND messages a second, 70 % of them in groups, until the end. */
async function send(soak: Soak): Promise<void> {
  const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)]!;
  let n = 0;
  while (elapsed(soak) < soak.plan.durationMs) {
    n++;
    const group = Math.random() < 0.7;
    const chat = group ? pick(GROUPS) : pick(DMS);
    const user = group ? pick(GROUP_USERS) : chat;
    const expected = `soak-${n} in ${chat} from ${user}`;
    const text = group ? `@HermesBot ${expected}` : expected;
    const result = soak.sim.callback(
      BOT,
      group
        ? { chatType: "group", chatId: chat, userId: user, text }
        : { chatType: "dm", userId: user, text },
    );
    soak.sent.set(result.reqId, {
      n,
      text,
      expected,
      reqId: result.reqId,
      chat,
      user,
      at: elapsed(soak),
      queued: result.queued,
    });
    // Steady on average, never in lockstep with the heartbeat.
    await sleep((1000 / RATE_PER_SECOND) * (0.5 + Math.random()));
  }
}

/** How long ago the gateway last subscribed, by the simulator's clock. */
function linkAgeMs(sim: WecomServer): number {
  const last = sim.framesOf("aibot_subscribe").filter((r) => !r.internal).at(-1);
  return last ? Date.now() - last.at : Infinity;
}

/** Link drops on a fixed beat, the storm and the takeover, each in a quiet window of its own. */
async function disturb(soak: Soak): Promise<void> {
  const { plan, sim } = soak;
  const quiet: Array<[number, number]> = [
    [plan.storm.at - 2_000, plan.storm.at + plan.storm.ms + 5_000],
    [
      plan.takeover.at - 2_000,
      plan.takeover.at + plan.takeover.ms + SUPERSEDED_RETRY_S * 1000 + 5_000,
    ],
  ];
  let nextDrop = plan.dropEveryMs;
  let drops = 0;
  let stormDone = false;
  let takeoverDone = false;
  while (elapsed(soak) < plan.durationMs) {
    const now = elapsed(soak);
    if (!stormDone && now >= plan.storm.at) {
      stormDone = true;
      await storm(soak);
    } else if (!takeoverDone && now >= plan.takeover.at) {
      takeoverDone = true;
      await takeover(soak);
    } else if (now >= nextDrop && linkAgeMs(sim) >= MIN_LINK_AGE_MS) {
      nextDrop += plan.dropEveryMs;
      if (quiet.some(([from, to]) => now >= from && now <= to)) continue;
      const sessions = sim.sessions(BOT);
      if (sessions.length === 0 || sessions.some((s) => s.state !== "open" || !s.subscribed)) {
        event(soak, "drop skipped: the link is still recovering");
        continue;
      }
      const mode = DROP_MODES[drops++ % DROP_MODES.length]!;
      try {
        event(soak, `drop ${mode}: connection ${sim.drop(BOT, mode).join(", ")}`);
      } catch (error) {
        event(soak, `drop ${mode} skipped: ${(error as Error).message}`);
      }
    }
    await sleep(200);
  }
}

/** 846609 for a while: the subscription dropped now and again, replies refused. */
async function storm(soak: Soak): Promise<void> {
  const { ms } = soak.plan.storm;
  const refusals = Math.max(5, Math.round(ms / 2000));
  event(soak, `846609 storm for ${ms / 1000} s: subscription dropped, ${refusals} replies refused`);
  soak.sim.failNext("aibot_respond_msg", 846609, refusals, "aibot websocket not subscribed");
  const end = elapsed(soak) + ms;
  for (let first = true; elapsed(soak) < end; first = false) {
    if (!first) event(soak, "subscription dropped again");
    soak.sim.dropSubscription(BOT);
    await sleep(Math.min(15_000, ms / 3, end - elapsed(soak)));
  }
  event(soak, "846609 storm over");
}

/** Another client takes the bot, holds it, lets go; the gateway steps back meanwhile. */
async function takeover(soak: Soak): Promise<void> {
  try {
    soak.takeover = await soak.sim.takeover(BOT);
  } catch (error) {
    return event(soak, `takeover failed: ${(error as Error).message}`);
  }
  event(soak, `takeover by ${soak.takeover.deviceId} (errcode ${soak.takeover.errcode})`);
  await sleep(soak.plan.takeover.ms);
  await soak.takeover.close();
  event(soak, `takeover client closed after ${soak.plan.takeover.ms / 1000} s`);
}

/** A reply the simulator took (acked with errcode 0). */
interface Reply {
  text: string;
  cmd: string;
  conn: number;
  /** ms on the simulator's clock. */
  at: number;
  reqId: string;
}

/**
 * The ack the simulator wrote for each request it read. It answers every
 * request on a responsive link at once and in order (writes to a dropped
 * link are not recorded, and it reads nothing there), so a connection's
 * requests and its acks pair off one to one.
 */
function acks(sim: WecomServer): Map<FrameRecord, WecomFrame> {
  const written = new Map<number, WecomFrame[]>();
  for (const record of sim.sent) {
    if (!record.frame || record.frame.cmd !== undefined) continue;
    const list = written.get(record.conn);
    if (list) list.push(record.frame);
    else written.set(record.conn, [record.frame]);
  }
  const paired = new Map<FrameRecord, WecomFrame>();
  const next = new Map<number, number>();
  for (const record of sim.frames) {
    if (!record.frame || record.lost || record.binary) continue;
    const index = next.get(record.conn) ?? 0;
    next.set(record.conn, index + 1);
    const ack = written.get(record.conn)?.[index];
    if (ack) paired.set(record, ack);
  }
  return paired;
}

/**
 * Replies the simulator took (acked with errcode 0), per message number
 * (found in the reply's text: a reply goes out on the chat's newest req_id,
 * not always its own message's), and those that name no message.
 */
function accepted(soak: Soak): { byNumber: Map<number, Reply[]>; unmatched: Reply[] } {
  const byNumber = new Map<number, Reply[]>();
  const unmatched: Reply[] = [];
  for (const [record, ack] of acks(soak.sim)) {
    const frame = record.frame!;
    const cmd = frame.cmd;
    if ((cmd !== "aibot_respond_msg" && cmd !== "aibot_send_msg") || ack.errcode !== 0) continue;
    const content = (frame.body?.markdown as { content?: unknown } | undefined)?.content;
    const text = typeof content === "string" ? content : JSON.stringify(frame.body);
    const reqId = frame.headers?.req_id ?? "";
    const reply: Reply = { text, cmd, conn: record.conn, at: record.at, reqId };
    const numbers = [...text.matchAll(/soak-(\d+) in /g)].map((m) => Number(m[1]));
    if (numbers.length === 0) unmatched.push(reply);
    for (const n of numbers) {
      const list = byNumber.get(n);
      if (list) list.push(reply);
      else byNumber.set(n, [reply]);
    }
  }
  return { byNumber, unmatched };
}

/** Callbacks the takeover client received: not the gateway's to answer. */
function takenByOther(soak: Soak): Set<string> {
  const ids = new Set<string>();
  for (const frame of soak.takeover?.received ?? []) {
    if (frame.cmd === "aibot_msg_callback" && frame.headers?.req_id) ids.add(frame.headers.req_id);
  }
  return ids;
}

function owed(soak: Soak): Sent[] {
  const other = takenByOther(soak);
  return [...soak.sent.values()].filter((s) => !other.has(s.reqId));
}

/** The message a req_id belongs to, as `#n`. */
function whose(soak: Soak, reqId: string): string {
  const original = soak.sent.get(reqId);
  return original ? `#${original.n}` : reqId;
}

/**
 * Everything the simulator saw of one message: the callback written, every
 * reply naming it (taken, refused or lost in a half-open link), with times
 * in seconds since the start.
 */
function trace(soak: Soak, message: Sent): string[] {
  const { sim } = soak;
  const t = (at: number) => `${((at - soak.startedAt) / 1000).toFixed(2)} s`;
  const lines = [
    `#${message.n} sent at ${(message.at / 1000).toFixed(2)} s${message.queued ? " (held)" : ""}: ${
      JSON.stringify(message.text)
    }`,
  ];
  for (const record of sim.sent) {
    if (
      record.frame?.cmd === "aibot_msg_callback" && record.frame.headers?.req_id === message.reqId
    ) {
      lines.push(`  ${t(record.at)} callback written on connection ${record.conn}`);
    }
  }
  const pattern = new RegExp(`soak-${message.n} in `);
  const paired = acks(sim);
  for (const record of sim.frames) {
    const cmd = record.frame?.cmd;
    if (cmd !== "aibot_respond_msg" && cmd !== "aibot_send_msg") continue;
    if (!pattern.test(record.raw)) continue;
    const reqId = record.frame?.headers?.req_id ?? "";
    const ack = paired.get(record);
    const outcome = record.lost ? "into a half-open link" : ack ? `acked ${ack.errcode}` : "no ack";
    lines.push(
      `  ${t(record.at)} ${cmd} on ${
        whose(soak, reqId)
      }'s req_id, connection ${record.conn}: ${outcome}`,
    );
  }
  return lines;
}

function report(soak: Soak, minutes: number, waited: number, rss: string, health: unknown) {
  const { sim, sent } = soak;
  const { byNumber, unmatched } = accepted(soak);
  const due = owed(soak);
  const replies = (s: Sent) => byNumber.get(s.n) ?? [];
  const once = due.filter((s) => replies(s).length === 1);
  const doubled = due.filter((s) => replies(s).length > 1);
  const lost = due.filter((s) => replies(s).length === 0);
  const wrong = due.filter((s) => replies(s).some((r) => r.text !== s.expected));
  const ours = sim.framesOf("aibot_subscribe").filter((r) => !r.internal);
  const sockets = new Set(ours.map((r) => r.conn)).size;
  const refusals = sim.sent.filter((r) => r.frame?.errcode === 846609).length;
  const held = [...sent.values()].filter((s) => s.queued).length;
  // A reply whose own req_id WeCom no longer takes rides the chat's newest one.
  const elsewhere = once.filter((s) => replies(s)[0]!.reqId !== s.reqId);
  const otherUser = elsewhere.filter((s) => sent.get(replies(s)[0]!.reqId)?.user !== s.user);
  const problems = [...new Set([...lost, ...doubled, ...wrong])].sort((a, b) => a.n - b.n);
  const list = (items: Sent[], line: (s: Sent) => string) =>
    items.map((s) => `\n  #${s.n} ${line(s)}`).join("");
  const texts = (s: Sent) => JSON.stringify(replies(s).map((r) => r.text));
  const lines = [
    `WeCom soak, ${minutes} min against the simulator (${Deno.build.target}, deno ${Deno.version.deno})`,
    `messages sent:               ${sent.size} (${held} held by the simulator for a later subscribe, ` +
    `${sent.size - due.length} taken by the takeover client)`,
    `answered exactly once:       ${once.length} of ${due.length}`,
    `answered more than once:     ${doubled.length}` +
    list(doubled, (s) => `${JSON.stringify(s.expected)} ${replies(s).length} times`),
    `lost:                        ${lost.length}` +
    list(lost, (s) => `at ${(s.at / 1000).toFixed(1)} s: ${JSON.stringify(s.text)}`),
    `answered with a wrong text:  ${wrong.length}` +
    list(wrong, (s) => `${JSON.stringify(s.expected)}: ${texts(s)}`),
    `replies naming no message:   ${unmatched.length}` +
    unmatched.map((r) => `\n  ${JSON.stringify(r.text)}`).join(""),
    `answered on a later req_id:  ${elsewhere.length} (a later message's of the chat; ` +
    `${otherUser.length} of them another user's, in a group)`,
    `all answered after stopping: ${waited.toFixed(1)} s`,
    `reconnects (simulator):      ${sockets - 1} new sockets, ${
      ours.length - sockets
    } subscribes again on a live socket, ${refusals} 846609 refusals sent`,
    `gateway RSS:                 ${rss}`,
    `disturbances:${soak.events.map((e) => `\n  ${e}`).join("")}`,
    `gateway status --json platforms.wecom:`,
    JSON.stringify(health, null, 2),
  ];
  if (problems.length > 0) {
    lines.push(`what the simulator saw of the first ${Math.min(10, problems.length)} problems:`);
    for (const message of problems.slice(0, 10)) lines.push(...trace(soak, message));
  }
  console.log(lines.join("\n"));
  return problems.length === 0 && unmatched.length === 0;
}

/** Whether every owed message has a reply yet. */
function allAnswered(soak: Soak): boolean {
  const { byNumber } = accepted(soak);
  return owed(soak).every((s) => byNumber.has(s.n));
}

async function main(minutes: number): Promise<boolean> {
  const setup = await startWecomGateway({
    env: {
      WECOM_HEARTBEAT_INTERVAL_SECONDS: "5",
      WECOM_HEARTBEAT_TIMEOUT_SECONDS: "2",
      WECOM_SUPERSEDED_RETRY_SECONDS: String(SUPERSEDED_RETRY_S),
      WECOM_IDLE_RESUBSCRIBE_SECONDS: "10",
      HERMES_BUSY_POLICY: "queue",
      HERMES_LOG_LEVEL: "info",
    },
  });
  const soak: Soak = {
    sim: setup.wecom,
    plan: schedule(minutes),
    started: performance.now(),
    startedAt: Date.now(),
    sent: new Map(),
    events: [],
  };
  const pid = setup.gateway.pid;
  let exited: number | undefined;
  setup.gateway.exited.then((code) => exited = code);
  await sleep(1000);
  const rssStart = rssMiB(pid);
  let rssPeak = rssStart;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, rssMiB(pid));
  }, 10_000);
  // A progress line a minute (every 10 s for short runs), on stderr.
  const progress = setInterval(() => {
    const { byNumber } = accepted(soak);
    const answered = [...soak.sent.values()].filter((s) => byNumber.has(s.n)).length;
    console.error(
      `${stamp(soak)} sent ${soak.sent.size}, answered ${answered}, subscribes ${
        soak.sim.subscribes(BOT)
      }, RSS ${rssMiB(pid).toFixed(1)} MiB`,
    );
  }, Math.min(60_000, Math.max(10_000, soak.plan.durationMs / 6)));
  try {
    const { plan } = soak;
    event(
      soak,
      `soak for ${minutes} min: ${RATE_PER_SECOND} msg/s over ${GROUPS.length} groups and ${DMS.length} DMs, ` +
        `drops every ${plan.dropEveryMs / 1000} s, storm at ${
          (plan.storm.at / 1000).toFixed(0)
        } s, ` +
        `takeover at ${(plan.takeover.at / 1000).toFixed(0)} s`,
    );
    await Promise.all([send(soak), disturb(soak)]);
    clearInterval(progress);
    event(soak, `sending stopped after ${soak.sent.size} messages; waiting for the last replies`);
    const waitStarted = performance.now();
    while (performance.now() - waitStarted < FINAL_WAIT_MS) {
      if (allAnswered(soak)) break;
      await sleep(500);
    }
    const waited = (performance.now() - waitStarted) / 1000;
    await sleep(5000); // a late second answer to a message would show now
    const rssEnd = rssMiB(pid);
    const rss = `start ${rssStart.toFixed(1)} MiB, end ${rssEnd.toFixed(1)} MiB, peak ${
      Math.max(rssPeak, rssEnd).toFixed(1)
    } MiB (sampled every 10 s)`;
    const status = await gatewayStatus(setup);
    const health = (status.platforms as Record<string, unknown> | undefined)?.wecom ?? null;
    let ok = report(soak, minutes, waited, rss, health);
    if (exited !== undefined) {
      ok = false;
      console.log(`the gateway exited with code ${exited}; its stderr ends:`);
      console.log(setup.gateway.stderr().split("\n").slice(-20).join("\n"));
    }
    if (!ok) {
      const kept = Deno.makeTempFileSync({ prefix: "wecom-soak-gateway-", suffix: ".log" });
      Deno.copyFileSync(`${setup.home}/logs/gateway.log`, kept);
      console.log(`FAILED: the gateway's log is kept in ${kept}`);
    }
    return ok;
  } finally {
    clearInterval(sampler);
    clearInterval(progress);
    await setup[Symbol.asyncDispose]();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { minutes: { type: "string" } } });
  const minutes = Number(values.minutes ?? 30);
  if (!Number.isFinite(minutes) || minutes <= 0) {
    console.error(
      `Cannot run the soak for "${values.minutes}" minutes: expected a positive number`,
    );
    Deno.exit(2);
  }
  Deno.exit(await main(minutes) ? 0 : 1);
}
