/**
 * The hermes home folder (`$HERMES_HOME`, default `~/.hermes`) and the names
 * of the files in it. This module is the one place that knows those names.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/** Every path in the hermes home that some part of hermes reads or writes. */
export interface HermesPaths {
  /** The home folder itself. */
  readonly home: string;
  /** `config.yaml`: the operator's configuration. */
  readonly configFile: string;
  /** `.env`: environment variables, below the process environment in precedence. */
  readonly envFile: string;
  /** `logs/`: log files. */
  readonly logsDir: string;
  /** `logs/gateway.log`: the gateway's log, rotated by size. */
  readonly gatewayLog: string;
  /** `gateway.pid`: the running gateway's PID record, created exclusively. */
  readonly pidFile: string;
  /** `gateway.lock`: flock held by the running gateway for its whole life. */
  readonly lockFile: string;
  /** `gateway_state.json`: the running gateway's status, for `gateway status`. */
  readonly runtimeStatus: string;
  /** `.gateway-takeover.json`: left by `gateway run --replace` for the old gateway. */
  readonly takeoverMarker: string;
  /** `.gateway-planned-stop.json`: left by `gateway stop` for the running gateway. */
  readonly plannedStopMarker: string;
  /** `gateway.sock`: the running gateway's control socket (Unix domain, mode 0600). */
  readonly controlSocket: string;
  /** `gateway-starts.log`: recent gateway starts, for the respawn-storm breaker. */
  readonly startsLog: string;
  /** `state.db`: sessions, transcripts, journals (SQLite). */
  readonly stateDb: string;
  /** `platforms/pairing/`: pending pairing requests, approved users, rate limits (files 0600). */
  readonly pairingDir: string;
  /** `redaction.key`: the secret behind the hashes the agent sees with `agent.redact_pii`. */
  readonly redactionKey: string;
  /** `media/`: files that came with messages or go with replies (the media cache). */
  readonly mediaDir: string;
}

/**
 * Works out the home folder from the environment: `HERMES_HOME` when set,
 * else `.hermes` in the user's home folder.
 *
 * @example
 * ```ts
 * resolveHome({ HERMES_HOME: "/srv/hermes" }); // "/srv/hermes"
 * resolveHome({ HOME: "/home/ada" }); // "/home/ada/.hermes"
 * ```
 */
export function resolveHome(env: Readonly<Record<string, string | undefined>>): string {
  const explicit = env.HERMES_HOME?.trim();
  if (explicit) return stripTrailingSlash(explicit);
  const userHome = env.HOME ?? env.USERPROFILE;
  if (!userHome) {
    throw new ConfigError(
      "Cannot find the hermes home: neither HERMES_HOME nor HOME is set; set HERMES_HOME to a folder",
    );
  }
  return `${stripTrailingSlash(userHome)}/.hermes`;
}

/**
 * The paths of every hermes file inside `home`.
 *
 * @example
 * ```ts
 * hermesPaths("/srv/hermes").configFile; // "/srv/hermes/config.yaml"
 * ```
 */
export function hermesPaths(home: string): HermesPaths {
  const logsDir = `${home}/logs`;
  return {
    home,
    configFile: `${home}/config.yaml`,
    envFile: `${home}/.env`,
    logsDir,
    gatewayLog: `${logsDir}/gateway.log`,
    pidFile: `${home}/gateway.pid`,
    lockFile: `${home}/gateway.lock`,
    runtimeStatus: `${home}/gateway_state.json`,
    takeoverMarker: `${home}/.gateway-takeover.json`,
    plannedStopMarker: `${home}/.gateway-planned-stop.json`,
    controlSocket: `${home}/gateway.sock`,
    startsLog: `${home}/gateway-starts.log`,
    stateDb: `${home}/state.db`,
    pairingDir: `${home}/platforms/pairing`,
    redactionKey: `${home}/redaction.key`,
    mediaDir: `${home}/media`,
  };
}

/**
 * Creates the home folder with mode 0700 if it does not exist yet. An existing
 * folder is left as the operator made it.
 */
export async function ensureHome(paths: HermesPaths): Promise<void> {
  try {
    const info = await Deno.stat(paths.home);
    if (info.isDirectory) return;
    throw new ConfigError(
      `Cannot use the hermes home "${paths.home}": it is a file, not a folder; set HERMES_HOME to a folder`,
    );
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  try {
    await Deno.mkdir(paths.home, { recursive: true, mode: 0o700 });
    // mkdir's mode passes through the umask; the home holds secrets, so be exact.
    await Deno.chmod(paths.home, 0o700);
  } catch (error) {
    throw new ConfigError(
      `Cannot create the hermes home "${paths.home}": ${
        (error as Error).message
      }; set HERMES_HOME to a writable folder`,
      { cause: error },
    );
  }
}

function stripTrailingSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}
