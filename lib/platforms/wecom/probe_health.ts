/**
 * What a running gateway's published WeCom link health says is wrong, for
 * `hermes wecom probe` when the gateway holds the bot (the probe must not
 * open a connection of its own then): findings of the live probe's kind
 * (probe.ts), read from `gateway_state.json` instead of a live link.
 *
 * @module
 */

import type { LinkHealth } from "../health.ts";
import { wecomError } from "./errors.ts";
import type { ProbeFinding } from "./probe.ts";

/** The fix of a takeover: another client subscribed with the same bot id. */
export const TAKEOVER_FIX =
  "Find the other client of this bot (a second hermes gateway in another home or on another machine, an old Hermes install, a script) and stop it, or give it a bot of its own; while two clients subscribe, messages go to whichever subscribed last";

/** What {@linkcode healthFindings} compares the published health with. */
export interface HealthCheckOptions {
  readonly now: Date;
  /** The device_id persisted for the bot; the gateway's should be the same. */
  readonly persistedDeviceId?: string;
  /** Since when the gateway serves (its started_at), for "nothing since". */
  readonly since?: string | null;
  /** No inbound message for this long is a finding (default 24 h). */
  readonly silenceMs?: number;
  /** A dead window longer than this is a finding (default 60 s). */
  readonly deadWindowMs?: number;
  /** A last error younger than this is a finding although the link is up (default 1 h). */
  readonly recentMs?: number;
}

/** States in which a link delivers. */
const UP_STATES: ReadonlySet<string> = new Set(["subscribed", "receiving"]);

/**
 * Findings from the link health a running gateway publishes for `wecom`:
 * a link that is not subscribed (superseded, fatal, retrying, ...), recent
 * errors and the error codes it counted, a long dead window, no inbound
 * message for a long time, a device_id that is not the persisted one.
 *
 * @example
 * ```ts
 * const findings = healthFindings(
 *   { state: "superseded", last_error: null, details: {} },
 *   { now: new Date() },
 * );
 * findings[0]?.code; // "takeover"
 * ```
 */
export function healthFindings(
  health: Partial<LinkHealth>,
  options: HealthCheckOptions,
): ProbeFinding[] {
  const findings: ProbeFinding[] = [];
  const find = (code: string, message: string, fix: string) =>
    findings.push({ code, message, fix });
  const now = options.now.getTime();
  const details = health.details ?? {};
  const state = String(health.state ?? "unknown");
  const last = health.last_error ?? null;
  const lastText = last ? `${last.code}: ${last.message}` : "";
  const up = UP_STATES.has(state);
  const restartFix =
    "Fix what the error names, then restart the gateway (hermes gateway restart); hermes gateway status shows the link";
  if (state === "superseded") {
    find(
      "takeover",
      `The gateway's WeCom link is superseded${
        since(details.superseded_at)
      }: another client subscribed with this bot id (disconnected_event) and holds the bot (takeover)`,
      TAKEOVER_FIX,
    );
  } else if (state === "fatal") {
    if (last && (last.code === "40013" || /\b40013\b/.test(last.message))) {
      find(
        "secret_wrong",
        `The gateway's WeCom link is fatal: WeCom refused the secret (errcode 40013): ${last.message}`,
        "Copy the bot's secret again from the WeCom admin console into WECOM_SECRET, check WECOM_BOT_ID, then hermes gateway restart",
      );
    } else {
      find(
        "gateway_fatal",
        `The gateway's WeCom link is fatal${lastText ? ` (${lastText})` : ""}`,
        restartFix,
      );
    }
  } else if (!up) {
    find(
      state === "degraded" ? "missed_heartbeats" : "gateway_link_down",
      state === "degraded"
        ? `The gateway's WeCom link is degraded: its pings go unanswered (missed heartbeats)`
        : `The gateway's WeCom link is ${state}${since(health.down_since)}${
          lastText ? ` (last error ${lastText})` : ""
        }`,
      "The gateway reconnects by itself; if the link stays down, stop the gateway (hermes gateway stop) and run hermes wecom probe to test the link on its own",
    );
  }
  if (up && last && now - Date.parse(last.at) <= (options.recentMs ?? 3600_000)) {
    const code = last.code === "disconnected_event"
      ? "takeover"
      : last.code === "heartbeat"
      ? "missed_heartbeats"
      : "gateway_recent_error";
    find(
      code,
      `The gateway's WeCom link is ${state} again, but met ${lastText} at ${last.at}`,
      code === "takeover"
        ? TAKEOVER_FIX
        : "Look at logs/gateway.log around that time; if it repeats, stop the gateway and run hermes wecom probe",
    );
  }
  const counts = isRecord(details.error_counts) ? details.error_counts : {};
  const notable = Object.entries(counts)
    .filter(([code]) => /^-?\d+$/.test(code))
    .filter(([code]) =>
      ["resubscribe", "refuse", "fatal"].includes(wecomError(Number(code)).action)
    )
    .map(([code, count]) => `errcode ${code} ×${count} (${wecomError(Number(code)).meaning})`);
  if (notable.length > 0) {
    find(
      "gateway_error_codes",
      `The gateway's WeCom link was answered with ${notable.join(", ")} since it started`,
      "846609 means the server dropped the subscription while the socket stayed open (the gateway subscribes again and retries); many of them point at another client of this bot or a stale session: stop the gateway and run hermes wecom probe --wait-message",
    );
  }
  const dead = health.longest_dead_window_ms ?? 0;
  if (dead > (options.deadWindowMs ?? 60_000)) {
    find(
      "long_dead_window",
      `The gateway's WeCom link was down for up to ${seconds(dead)} at a time (${
        health.reconnects ?? 0
      } reconnects)`,
      "logs/gateway.log names the cause of each reconnect ('WeCom link lost'); drops that repeat point at the network path or another client of this bot",
    );
  }
  const inbound = Object.entries(health.last_inbound_at ?? {});
  const newest = Math.max(...inbound.map(([, at]) => Date.parse(at)).filter(Number.isFinite));
  const silenceMs = options.silenceMs ?? 24 * 3600_000;
  const start = Date.parse(options.since ?? String(details.subscribed_at ?? ""));
  const quietSince = inbound.length > 0 ? newest : start;
  if (up && Number.isFinite(quietSince) && now - quietSince > silenceMs) {
    const routes = ["dm", "group"].map((route) =>
      `${route}: ${health.last_inbound_at?.[route] ?? "never"}`
    ).join(", ");
    find(
      "no_inbound",
      inbound.length > 0
        ? `No message reached the gateway for ${seconds(now - newest)} (${routes})`
        : `No message reached the gateway since ${new Date(start).toISOString()}`,
      "Send the bot a message in a DM and in a group; if none arrives, the server may route to a stale session: stop the gateway and run hermes wecom probe --wait-message",
    );
  }
  const gatewayDevice = typeof details.device_id === "string" ? details.device_id : undefined;
  if (gatewayDevice && options.persistedDeviceId && gatewayDevice !== options.persistedDeviceId) {
    find(
      "device_id_mismatch",
      `The gateway subscribes with device_id ${gatewayDevice}, but ${options.persistedDeviceId} is persisted for this bot: the file changed after the gateway started`,
      "Restart the gateway (hermes gateway restart) so that it and the file agree; never edit or delete platforms/wecom/device_ids.json by hand",
    );
  }
  return findings;
}

function since(at: unknown): string {
  return typeof at === "string" && at !== "" ? ` since ${at}` : "";
}

function isRecord(value: unknown): value is Record<string, number> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `ms` as seconds with one decimal, for messages ("12.5 s"). */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
