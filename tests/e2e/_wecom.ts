/**
 * A gateway with the WeCom AI Bot platform on, as a subprocess, against the
 * simulator running in the test process (echo agent, open policies).
 *
 * @module
 */

import { type FrameRecord, WecomServer, type WecomServerOptions } from "../fakes/wecom_server.ts";
import { type BackgroundHermes, startGateway } from "../gateway/_gateway.ts";
import { runHermes, tempDir } from "../_helpers.ts";

/** The bot every test uses. */
export const BOT = "bot-1";
/** Its secret in the simulator. */
export const SECRET = "secret-1";

/** The gateway's environment for the simulator at `url`. */
export function wecomEnv(url: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    WECOM_BOT_ID: BOT,
    WECOM_SECRET: SECRET,
    WECOM_WEBSOCKET_URL: url,
    WECOM_DM_POLICY: "open",
    WECOM_GROUP_POLICY: "open",
    GATEWAY_ALLOW_ALL_USERS: "true",
    WECOM_HEARTBEAT_INTERVAL_SECONDS: "1",
    WECOM_HEARTBEAT_TIMEOUT_SECONDS: "0.5",
    HERMES_WECOM_TEXT_BATCH_DELAY_SECONDS: "0",
    ...extra,
  };
}

/** A running gateway, its home and the simulator it talks to. */
export interface WecomSetup extends AsyncDisposable {
  readonly home: string;
  readonly wecom: WecomServer;
  gateway: BackgroundHermes;
  /** The env the gateway was started with. */
  readonly env: Record<string, string>;
}

/** Starts the simulator and a gateway subscribed to it. */
export async function startWecomGateway(
  options: {
    env?: Record<string, string>;
    server?: WecomServerOptions;
    /** config.yaml of the home (`HOME` in it is replaced by the home's path). */
    config?: string;
  } = {},
): Promise<WecomSetup> {
  const dir = tempDir();
  if (options.config) {
    await Deno.writeTextFile(
      `${dir.path}/config.yaml`,
      options.config.replaceAll("HOME", dir.path),
    );
  }
  const wecom = await WecomServer.start(options.server ?? {});
  const env = wecomEnv(wecom.url, options.env);
  let gateway: BackgroundHermes;
  try {
    gateway = await startGateway(dir.path, env);
    await wecom.waitForSubscribe(BOT, 1, 20_000);
  } catch (error) {
    await wecom.close();
    await dir[Symbol.asyncDispose]();
    throw error;
  }
  const setup: WecomSetup = {
    home: dir.path,
    wecom,
    gateway,
    env,
    async [Symbol.asyncDispose]() {
      await setup.gateway[Symbol.asyncDispose]();
      await wecom.close();
      await dir[Symbol.asyncDispose]();
    },
  };
  return setup;
}

/** Replies (and proactive sends) the simulator received, oldest first. */
export function repliesOf(wecom: WecomServer): FrameRecord[] {
  return wecom.frames.filter((r) =>
    r.frame?.cmd === "aibot_respond_msg" || r.frame?.cmd === "aibot_send_msg"
  );
}

/** The markdown text of a reply frame. */
export function replyText(record: FrameRecord): string | undefined {
  const markdown = record.frame?.body?.markdown as { content?: unknown } | undefined;
  return typeof markdown?.content === "string" ? markdown.content : undefined;
}

/** Waits for a reply whose text is `text`. */
export function waitForReply(wecom: WecomServer, text: string, timeoutMs = 15_000) {
  return wecom.waitForFrame(
    (r) =>
      (r.frame?.cmd === "aibot_respond_msg" || r.frame?.cmd === "aibot_send_msg") &&
      replyText(r) === text,
    timeoutMs,
  );
}

/** `hermes gateway status --json` of the setup's home: the whole answer. */
export async function gatewayStatus(setup: WecomSetup): Promise<Record<string, unknown>> {
  const result = await runHermes(["gateway", "status", "--json"], {
    home: setup.home,
    env: { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${setup.home}/locks` },
  });
  return JSON.parse(result.stdout);
}

/** The WeCom link health `gateway status --json` shows. */
export async function wecomHealth(setup: WecomSetup): Promise<Record<string, unknown>> {
  const status = await gatewayStatus(setup);
  return (status.platforms as Record<string, Record<string, unknown>>).wecom!;
}
