/**
 * Helpers of the pool tests: what `gateway status` says of a home, and the
 * wait for a gateway's bot to be on standby.
 *
 * @module
 */

import { runHermes } from "../_helpers.ts";
import { waitFor } from "../gateway/_gateway.ts";

/** What the pool tests read of `gateway status --json`. */
export interface PoolStatus {
  state: string;
  platforms: Record<string, { state: string; details: Record<string, unknown> }>;
}

/** `hermes gateway status --json` of `home` (its own credential lock folder). */
export async function statusOf(home: string, env: Record<string, string>): Promise<PoolStatus> {
  const result = await runHermes(["gateway", "status", "--json"], {
    home,
    env: { ...env, HERMES_GATEWAY_LOCK_DIR: `${home}/locks` },
  });
  const status = JSON.parse(result.stdout) as PoolStatus;
  return { ...status, platforms: status.platforms ?? {} };
}

/** Waits until the gateway of `home` shows WeCom on standby; resolves with that status. */
export async function waitStandby(
  home: string,
  env: Record<string, string>,
  timeoutMs?: number,
): Promise<PoolStatus> {
  let seen: PoolStatus | undefined;
  await waitFor("the gateway's bot on standby", async () => {
    seen = await statusOf(home, env);
    return seen.platforms.wecom?.state === "standby";
  }, timeoutMs);
  return seen!;
}
