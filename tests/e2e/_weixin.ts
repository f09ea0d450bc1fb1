/**
 * A gateway with the Weixin platform on, as a subprocess, against the iLink
 * simulator running in the test process (echo agent, open policies, no text
 * batching, no pause between bubbles).
 *
 * @module
 */

import { IlinkServer, type IlinkServerOptions, type SentMessage } from "../fakes/ilink_server.ts";
import { type BackgroundHermes, startGateway, waitFor } from "../gateway/_gateway.ts";
import { runHermes, tempDir } from "../_helpers.ts";

/** The gateway's environment for the simulator. */
export function weixinEnv(
  ilink: IlinkServer,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    WEIXIN_ACCOUNT_ID: ilink.accountId,
    WEIXIN_TOKEN: ilink.token,
    WEIXIN_BASE_URL: ilink.url,
    WEIXIN_CDN_BASE_URL: ilink.cdnUrl,
    WEIXIN_MEDIA_ALLOW_ADDRESSES: "127.0.0.1",
    WEIXIN_DM_POLICY: "open",
    WEIXIN_GROUP_POLICY: "open",
    GATEWAY_ALLOW_ALL_USERS: "true",
    WEIXIN_TEXT_BATCH_DELAY_SECONDS: "0",
    WEIXIN_SEND_CHUNK_DELAY_SECONDS: "0",
    WEIXIN_SEND_CHUNK_RETRY_DELAY_SECONDS: "0.05",
    ...extra,
  };
}

/** A running gateway, its home and the simulator it polls. */
export interface WeixinSetup extends AsyncDisposable {
  readonly home: string;
  readonly ilink: IlinkServer;
  gateway: BackgroundHermes;
  /** The env the gateway was started with. */
  readonly env: Record<string, string>;
  /** Starts the gateway again in the same home (after a stop or a kill). */
  restart(): Promise<void>;
}

/** Starts the simulator and a gateway polling it. */
export async function startWeixinGateway(
  options: {
    env?: Record<string, string>;
    server?: IlinkServerOptions;
    /** config.yaml of the home (`HOME` in it is replaced by the home's path). */
    config?: string;
  } = {},
): Promise<WeixinSetup> {
  const dir = tempDir();
  if (options.config) {
    await Deno.writeTextFile(
      `${dir.path}/config.yaml`,
      options.config.replaceAll("HOME", dir.path),
    );
  }
  const ilink = await IlinkServer.start({ longPollMs: 500, ...options.server });
  const env = weixinEnv(ilink, options.env);
  const polls = () => ilink.requestsTo("getupdates").length;
  const start = async () => {
    const before = polls();
    const gateway = await startGateway(dir.path, env);
    await waitFor("the gateway's first getupdates", () => polls() > before);
    return gateway;
  };
  let gateway: BackgroundHermes;
  try {
    gateway = await start();
  } catch (error) {
    await ilink.close();
    await dir[Symbol.asyncDispose]();
    throw error;
  }
  const setup: WeixinSetup = {
    home: dir.path,
    ilink,
    gateway,
    env,
    async restart() {
      await setup.gateway[Symbol.asyncDispose]();
      setup.gateway = await start();
    },
    async [Symbol.asyncDispose]() {
      await setup.gateway[Symbol.asyncDispose]();
      await ilink.close();
      await dir[Symbol.asyncDispose]();
    },
  };
  return setup;
}

/** Waits for an accepted sendmessage whose text is `text`. */
export async function waitForSent(
  ilink: IlinkServer,
  text: string,
  timeoutMs = 15_000,
): Promise<SentMessage> {
  await waitFor(`a reply "${text}"`, () => ilink.sent.some((s) => s.text === text), timeoutMs);
  return ilink.sent.find((s) => s.text === text)!;
}

/** `hermes gateway status --json`'s `platforms.weixin`. */
export async function weixinHealth(setup: WeixinSetup): Promise<Record<string, unknown>> {
  const result = await runHermes(["gateway", "status", "--json"], {
    home: setup.home,
    env: { ...setup.env, HERMES_GATEWAY_LOCK_DIR: `${setup.home}/locks` },
  });
  const status = JSON.parse(result.stdout);
  return (status.platforms as Record<string, Record<string, unknown>>).weixin!;
}
