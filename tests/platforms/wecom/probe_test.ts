import assert from "node:assert/strict";
import {
  type ProbeOptions,
  type ProbeReport,
  probeWecom,
} from "../../../lib/platforms/wecom/probe.ts";
import { healthFindings } from "../../../lib/platforms/wecom/probe_health.ts";
import { WecomServer } from "../../fakes/wecom_server.ts";

/** Quick settings: heartbeats for 0.6 s, a ping every 0.2 s, acks awaited 0.4 s. */
function options(wecom: WecomServer, more: Partial<ProbeOptions> = {}): ProbeOptions {
  return {
    url: wecom.url,
    botId: "bot-1",
    secret: "secret-1",
    deviceId: "dev-probe",
    durationMs: 600,
    intervalMs: 200,
    heartbeatTimeoutMs: 400,
    reconnects: 1,
    ...more,
  };
}

function step(report: ProbeReport, name: string) {
  const found = report.steps.find((s) => s.name === name);
  assert.ok(found, `no step ${name} in ${report.steps.map((s) => s.name).join(", ")}`);
  return found;
}

function codes(report: ProbeReport): string[] {
  return report.findings.map((f) => f.code);
}

/** The subscribe frames hermes sent (not the simulator's own takeover client's). */
function subscribes(wecom: WecomServer) {
  return wecom.framesOf("aibot_subscribe").filter((r) => !r.internal);
}

Deno.test("probeWecom() finds a healthy link healthy, with every step timed", async () => {
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  const seen: string[] = [];
  const report = await probeWecom(options(wecom, { onStep: (s) => seen.push(s.name) }));
  assert.equal(report.verdict, "healthy", JSON.stringify(report.findings));
  assert.deepEqual(report.findings, []);
  assert.deepEqual(
    report.steps.map((s) => s.name),
    ["dns", "tcp", "tls", "websocket", "subscribe", "heartbeat", "reconnect_1", "takeover"],
  );
  assert.deepEqual(seen, report.steps.map((s) => s.name), "onStep hears every step");
  assert.ok(report.steps.every((s) => s.ok));
  assert.equal(step(report, "dns").skipped, true, "127.0.0.1 needs no DNS");
  assert.equal(step(report, "tls").skipped, true, "ws:// has no TLS");
  for (const name of ["tcp", "websocket", "subscribe", "heartbeat"]) {
    assert.equal(typeof step(report, name).ms, "number", name);
  }
  const heartbeat = step(report, "heartbeat");
  assert.equal(heartbeat.data?.missed, 0);
  assert.ok(Number(heartbeat.data?.pings) >= 3, heartbeat.detail);
  assert.equal(typeof heartbeat.data?.median_ms, "number");
  assert.ok(Number(heartbeat.data?.worst_ms) >= Number(heartbeat.data?.median_ms));
  assert.equal(
    wecom.framesOf("ping").length,
    Number(heartbeat.data?.pings) + 1,
    "+1 after reconnect",
  );
  assert.equal(report.device_id, "dev-probe");
  assert.ok(!JSON.stringify(report).includes("secret-1"), "the secret is never in the report");
});

Deno.test("probeWecom() names a wrong secret (errcode 40013) and goes no further", async () => {
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  const report = await probeWecom(options(wecom, { secret: "wrong-secret" }));
  assert.equal(report.verdict, "problem");
  assert.deepEqual(codes(report), ["secret_wrong"]);
  assert.match(report.findings[0]!.message, /40013/);
  assert.match(report.findings[0]!.message, /secret is wrong/);
  assert.match(report.findings[0]!.fix, /WECOM_SECRET/);
  assert.equal(step(report, "subscribe").ok, false);
  assert.ok(!report.steps.some((s) => s.name === "heartbeat"));
  assert.equal(wecom.framesOf("ping").length, 0);
  assert.ok(!JSON.stringify(report).includes("wrong-secret"));
});

Deno.test("probeWecom() counts pings the server leaves unanswered as missed heartbeats", async () => {
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  wecom.setPingAcks(false);
  const report = await probeWecom(options(wecom, { heartbeatTimeoutMs: 150, reconnects: 0 }));
  assert.equal(report.verdict, "problem");
  assert.deepEqual(codes(report), ["missed_heartbeats"]);
  assert.match(report.findings[0]!.message, /missed heartbeats/);
  const heartbeat = step(report, "heartbeat");
  assert.equal(heartbeat.ok, false);
  assert.equal(heartbeat.data?.acked, 0);
  assert.ok(Number(heartbeat.data?.missed) >= 2, heartbeat.detail);
  assert.equal(heartbeat.data?.median_ms, null);
});

Deno.test("probeWecom() reports a takeover during the probe and does not fight for the bot", async () => {
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  const probing = probeWecom(options(wecom, { durationMs: 5_000, reconnects: 2 }));
  await wecom.waitForSubscribe("bot-1", 1);
  const other = await wecom.takeover("bot-1");
  const report = await probing;
  await other.close();
  assert.equal(report.verdict, "problem");
  assert.deepEqual(codes(report), ["takeover"]);
  assert.match(report.findings[0]!.message, /disconnected_event/);
  assert.match(report.findings[0]!.message, /another client/);
  assert.equal(step(report, "takeover").ok, false);
  assert.ok(!report.steps.some((s) => s.name.startsWith("reconnect")), "no reconnect after it");
  assert.equal(subscribes(wecom).length, 1, "the probe never subscribed again");
});

Deno.test("probeWecom() takes the server closing the link right after the subscribe for a takeover", async () => {
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  const probing = probeWecom(options(wecom, { durationMs: 5_000 }));
  await wecom.waitForSubscribe("bot-1", 1);
  wecom.drop("bot-1", "close");
  const report = await probing;
  assert.deepEqual(codes(report), ["takeover"]);
  assert.match(report.findings[0]!.message, /closed the link \d+(\.\d)? ms after the subscribe/);
  assert.match(report.findings[0]!.message, /another client holds this bot/);
  assert.equal(subscribes(wecom).length, 1);
});

Deno.test("probeWecom() reconnects with the same device_id every time", async () => {
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  const report = await probeWecom(options(wecom, { durationMs: 200, reconnects: 2 }));
  assert.equal(report.verdict, "healthy", JSON.stringify(report.findings));
  const frames = subscribes(wecom);
  assert.equal(frames.length, 3, "the first subscribe and two reconnects");
  assert.deepEqual(frames.map((f) => f.frame?.body?.device_id), [
    "dev-probe",
    "dev-probe",
    "dev-probe",
  ]);
  assert.equal(new Set(frames.map((f) => f.conn)).size, 3, "each on a connection of its own");
  for (const name of ["reconnect_1", "reconnect_2"]) {
    assert.ok(step(report, name).ok);
    assert.match(step(report, name).detail, /same device_id|device_id dev-probe/);
  }
  const deadline = Date.now() + 2_000;
  while (wecom.sessions("bot-1").length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(wecom.sessions("bot-1"), [], "the probe closes its link when done");
});

Deno.test("probeWecom() with waitMessage sees a message reach the new connection", async () => {
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  const prompts: string[] = [];
  const report = await probeWecom(options(wecom, {
    durationMs: 200,
    waitMessage: {
      timeoutMs: 3_000,
      prompt: (text) => {
        prompts.push(text);
        wecom.callback("bot-1", { chatType: "dm", userId: "zs", text: "hello" });
      },
    },
  }));
  assert.equal(report.verdict, "healthy", JSON.stringify(report.findings));
  assert.equal(prompts.length, 1);
  assert.match(prompts[0]!, /Send the bot a message/);
  assert.ok(step(report, "message").ok);
  assert.equal(report.callbacks, 1);
});

Deno.test("probeWecom() with waitMessage names a zombie session that eats group messages", async () => {
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  // An earlier client with another device_id vanished without a close: still registered.
  const earlier = await wecom.takeover("bot-1");
  wecom.drop(earlier.conn, "half-open");
  const report = await probeWecom(options(wecom, {
    durationMs: 200,
    waitMessage: {
      timeoutMs: 800,
      prompt: () => void wecom.callback("bot-1", { chatType: "group", userId: "zs", text: "hi" }),
    },
  }));
  await earlier.close();
  assert.deepEqual(codes(report), ["no_message"]);
  assert.match(report.findings[0]!.message, /zombie/);
  assert.match(report.findings[0]!.fix, /device_ids\.json/);
  assert.equal(step(report, "message").ok, false);
});

Deno.test("probeWecom() says it cannot connect when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const report = await probeWecom({
    url: `ws://127.0.0.1:${port}`,
    botId: "bot-1",
    secret: "secret-1",
    deviceId: "dev-probe",
  });
  assert.equal(report.verdict, "problem");
  assert.deepEqual(codes(report), ["cannot_connect"]);
  assert.equal(step(report, "tcp").ok, false);
  assert.match(report.findings[0]!.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
});

Deno.test("healthFindings() reads a gateway's published WeCom health", async (t) => {
  const now = new Date("2026-12-01T12:00:00.000Z");
  const base = {
    state: "receiving" as const,
    last_inbound_at: { dm: "2026-12-01T11:59:00.000Z" },
    last_error: null,
    reconnects: 0,
    longest_dead_window_ms: 0,
    details: { device_id: "dev-1", bot_id: "bot-1" },
  };
  const of = (health: Record<string, unknown>, more: Record<string, unknown> = {}) =>
    healthFindings({ ...base, ...health }, { now, persistedDeviceId: "dev-1", ...more })
      .map((f) => f.code);

  await t.step("a receiving link with recent messages is healthy", () => {
    assert.deepEqual(of({}), []);
  });
  await t.step("superseded is a takeover", () => {
    assert.deepEqual(of({ state: "superseded" }), ["takeover"]);
  });
  await t.step("fatal after 40013 is a wrong secret", () => {
    const last_error = { code: "40013", message: "invalid secret", at: now.toISOString() };
    assert.deepEqual(of({ state: "fatal", last_error }), ["secret_wrong"]);
  });
  await t.step("retrying is a link that is down", () => {
    assert.deepEqual(of({ state: "retrying" }), ["gateway_link_down"]);
  });
  await t.step("a recent missed-heartbeat error on a link that is up again", () => {
    const last_error = { code: "heartbeat", message: "2 pings", at: "2026-12-01T11:50:00.000Z" };
    assert.deepEqual(of({ last_error }), ["missed_heartbeats"]);
  });
  await t.step("846609 counts, a long dead window, a day without messages", () => {
    assert.deepEqual(
      of({
        last_inbound_at: { dm: "2026-11-29T12:00:00.000Z" },
        longest_dead_window_ms: 300_000,
        details: { ...base.details, error_counts: { "846609": 4, "600039": 2 } },
      }),
      ["gateway_error_codes", "long_dead_window", "no_inbound"],
    );
  });
  await t.step("a device_id that is not the persisted one", () => {
    assert.deepEqual(of({}, { persistedDeviceId: "dev-2" }), ["device_id_mismatch"]);
  });
});
