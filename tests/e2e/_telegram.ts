/**
 * A gateway with the Telegram platform on, as a subprocess, against the
 * Bot API simulator running in the test process (echo agent, open
 * policies, short polls).
 *
 * @module
 */

import { TelegramServer, type TelegramServerOptions } from "../fakes/telegram_server.ts";
import { type BackgroundHermes, startGateway, waitFor } from "../gateway/_gateway.ts";
import { runHermes, tempDir } from "../_helpers.ts";

/** The gateway's environment for the simulator. */
export function telegramEnv(
  tg: TelegramServer,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_API_BASE_URL: tg.url,
    TELEGRAM_MEDIA_ALLOW_ADDRESSES: "127.0.0.1",
    TELEGRAM_POLL_TIMEOUT_SECONDS: "1",
    TELEGRAM_DM_POLICY: "open",
    TELEGRAM_GROUP_POLICY: "open",
    GATEWAY_ALLOW_ALL_USERS: "true",
    ...extra,
  };
}

/** A running gateway, its home and the simulator it polls. */
export interface TelegramSetup extends AsyncDisposable {
  readonly home: string;
  readonly tg: TelegramServer;
  gateway: BackgroundHermes;
  /** The env the gateway was started with. */
  readonly env: Record<string, string>;
  /** Starts the gateway again in the same home (after a stop or a kill). */
  restart(): Promise<void>;
}

/** Starts the simulator and a gateway polling it. */
export async function startTelegramGateway(
  options: {
    env?: Record<string, string>;
    server?: TelegramServerOptions;
    /** config.yaml of the home, written once the simulator (and its users) exist. */
    config?: (tg: TelegramServer) => string;
  } = {},
): Promise<TelegramSetup> {
  const dir = tempDir();
  const tg = await TelegramServer.start({ maxLongPollMs: 1_000, ...options.server });
  if (options.config) await Deno.writeTextFile(`${dir.path}/config.yaml`, options.config(tg));
  const env = telegramEnv(tg, options.env);
  const polls = () => tg.requests.filter((r) => r.method === "getupdates").length;
  const start = async () => {
    const before = polls();
    const gateway = await startGateway(dir.path, env);
    if (!env.TELEGRAM_WEBHOOK_URL) {
      await waitFor("the gateway's first getUpdates", () => polls() > before);
    }
    return gateway;
  };
  let gateway: BackgroundHermes;
  try {
    gateway = await start();
  } catch (error) {
    await tg.close();
    await dir[Symbol.asyncDispose]();
    throw error;
  }
  const setup: TelegramSetup = {
    home: dir.path,
    tg,
    gateway,
    env,
    async restart() {
      await setup.gateway[Symbol.asyncDispose]();
      setup.gateway = await start();
    },
    async [Symbol.asyncDispose]() {
      await setup.gateway[Symbol.asyncDispose]();
      await tg.close();
      await dir[Symbol.asyncDispose]();
    },
  };
  return setup;
}

/** The texts the bot sent to `chatId` (sendMessage calls that succeeded), in order. */
export function sentTexts(tg: TelegramServer, chatId: number): string[] {
  return tg.outboundOf("sendMessage")
    .filter((call) => call.ok && Number(call.params.chat_id) === chatId)
    .map((call) => String(call.params.text));
}

/** Waits until the bot sent `text` to `chatId`. */
export async function waitForText(
  tg: TelegramServer,
  chatId: number,
  text: string,
  timeoutMs = 15_000,
): Promise<void> {
  await waitFor(
    `"${text}" sent to ${chatId}`,
    () => sentTexts(tg, chatId).includes(text),
    timeoutMs,
  );
}

/** `hermes gateway status --json`'s `platforms.telegram`. */
export async function telegramHealth(setup: TelegramSetup): Promise<Record<string, unknown>> {
  const result = await runHermes(["gateway", "status", "--json"], {
    home: setup.home,
    env: { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${setup.home}/locks` },
  });
  const status = JSON.parse(result.stdout);
  return (status.platforms as Record<string, Record<string, unknown>>).telegram!;
}
