/**
 * Telegram updates to replies (`deno task bench`): a real gateway
 * subprocess long-polling the Bot API simulator (in this process) with the
 * echo agent. Reports replies per second and p50/p99 from a user's message
 * to the bot's reply, with 1 chat and with 20 chats writing at once (each
 * chat waits for its reply before it writes again), and the gateway's
 * resident memory while it polls. A chat's replies are paced to about one
 * operation a second (Telegram's per-chat limit; drafts share it), so the
 * figures measure that pacing as much as hermes; a chat's first reply
 * (`first_reply_median_ms`) is hermes' own latency. `BENCH_TELEGRAM_ROUNDS`
 * changes how many messages each chat sends (default 8).
 *
 * @module
 */

import { TelegramServer } from "../fakes/telegram_server.ts";
import { cliRunFlags } from "../../scripts/permissions.ts";

const ROUNDS = Number(Deno.env.get("BENCH_TELEGRAM_ROUNDS") ?? 8);
const root = new URL("../../", import.meta.url).pathname;
const home = Deno.makeTempDirSync({ prefix: "hermes-telegram-bench-" });
const tg = await TelegramServer.start({ maxLongPollMs: 1_000 });

const gateway = new Deno.Command(Deno.execPath(), {
  args: ["run", ...cliRunFlags(), `${root}cli/main.ts`, "gateway", "run"],
  env: {
    HERMES_HOME: home,
    HERMES_GATEWAY_LOCK_DIR: `${home}/locks`,
    HERMES_LOG_LEVEL: "warn",
    NO_COLOR: "1",
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_API_BASE_URL: tg.url,
    TELEGRAM_POLL_TIMEOUT_SECONDS: "1",
    TELEGRAM_DM_POLICY: "open",
    GATEWAY_ALLOW_ALL_USERS: "true",
  },
  stdout: "null",
  stderr: "inherit",
}).spawn();

let asked = 0;
/** One message from `userId`; resolves with ms until the bot's reply to it was sent. */
async function ask(userId: number): Promise<number> {
  const text = `bench message ${asked++}`;
  const started = performance.now();
  tg.userText(userId, text);
  for (;;) {
    const reply = tg.outboundOf("sendMessage").some((call) =>
      call.ok && call.params.text === text && Number(call.params.chat_id) === userId
    );
    if (reply) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function run(chats: number) {
  const users = Array.from({ length: chats }, () => tg.addUser({}));
  const latencies: number[] = [];
  const firsts: number[] = [];
  const started = performance.now();
  await Promise.all(users.map(async (user) => {
    for (let i = 0; i < ROUNDS; i++) {
      const ms = await ask(user.id);
      latencies.push(ms);
      if (i === 0) firsts.push(ms);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return {
    chats,
    messages: latencies.length,
    per_second: +(latencies.length / seconds).toFixed(1),
    p50_ms: Math.round(at(0.5)),
    p99_ms: Math.round(at(0.99)),
    // A chat's first reply waits for no earlier one: hermes' own latency, without the pacing.
    first_reply_median_ms: Math.round(firsts.sort((a, b) => a - b)[Math.floor(firsts.length / 2)]!),
  };
}

function rssMiB(): number {
  const status = Deno.readTextFileSync(`/proc/${gateway.pid}/status`);
  return +(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024).toFixed(1);
}

try {
  while (!tg.requests.some((r) => r.method === "getupdates")) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const idle = rssMiB();
  await ask(tg.addUser({}).id); // warm-up
  const one = await run(1);
  const twenty = await run(20);
  console.log(JSON.stringify(
    {
      bench: "telegram (long polling, echo agent, simulator)",
      one_chat: one,
      twenty_chats: twenty,
      rss_polling_idle_mib: idle,
      rss_after_mib: rssMiB(),
    },
    null,
    2,
  ));
} finally {
  gateway.kill("SIGINT");
  await gateway.status;
  await tg.close();
  Deno.removeSync(home, { recursive: true });
}
