import assert from "node:assert/strict";
import { runHermes, tempDir } from "../_helpers.ts";
import { startGateway, waitFor } from "../gateway/_gateway.ts";
import { WecomServer } from "../fakes/wecom_server.ts";

/** The environment of a home whose WeCom bot is the simulator's bot-1. */
function botEnv(home: string, wecom: WecomServer, more: Record<string, string> = {}) {
  return {
    HERMES_GATEWAY_LOCK_DIR: `${home}/locks`,
    WECOM_BOT_ID: "bot-1",
    WECOM_SECRET: "secret-1",
    WECOM_WEBSOCKET_URL: wecom.url,
    WECOM_HEARTBEAT_TIMEOUT_SECONDS: "0.5",
    ...more,
  };
}

/** Short probes: heartbeats for 1 s, a ping every 0.25 s, one reconnect. */
const QUICK = ["--duration", "1", "--interval", "0.25", "--reconnects", "1"];

interface Output {
  verdict: string;
  device_id: string;
  device_id_source: string;
  steps: { name: string; ok: boolean; ms: number | null; detail: string }[];
  findings: { code: string; message: string; fix: string }[];
  local: {
    gateway: { running: boolean; pid: number | null };
    credential_lock: { held: boolean; holder: string | null };
    wecom: { state: string; details: Record<string, unknown> } | null;
    persisted_device_id: string | null;
    probe_connected: boolean;
  };
  notes: string[];
}

function parse(stdout: string, stderr: string): Output {
  try {
    return JSON.parse(stdout);
  } catch {
    throw new Error(`not JSON: ${stdout}\n--- stderr:\n${stderr}`);
  }
}

/** Subscribe frames hermes sent (not the simulator's own takeover client's). */
function subscribes(wecom: WecomServer) {
  return wecom.framesOf("aibot_subscribe").filter((r) => !r.internal);
}

Deno.test("hermes wecom probe --json on a healthy link exits 0 with every step", async () => {
  await using home = tempDir();
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  const { code, stdout, stderr } = await runHermes(["wecom", "probe", "--json", ...QUICK], {
    home: home.path,
    env: botEnv(home.path, wecom),
  });
  assert.equal(code, 0, stdout + stderr);
  const out = parse(stdout, stderr);
  assert.equal(out.verdict, "healthy");
  assert.deepEqual(out.findings, []);
  assert.deepEqual(
    out.steps.map((s) => s.name),
    ["dns", "tcp", "tls", "websocket", "subscribe", "heartbeat", "reconnect_1", "takeover"],
  );
  assert.equal(out.local.gateway.running, false);
  assert.equal(out.local.probe_connected, true);
  assert.equal(out.device_id_source, "fresh");
  assert.match(out.notes.join("\n"), /fresh one .* did not write it/);
  const written = await Deno.stat(`${home.path}/platforms/wecom/device_ids.json`).catch(() => null);
  assert.equal(written, null, "a fresh device_id is not persisted by the probe");
  assert.deepEqual(
    subscribes(wecom).map((f) => f.frame?.body?.device_id),
    [out.device_id, out.device_id],
  );
});

Deno.test("hermes wecom probe uses the persisted device_id and prints a verdict for people", async () => {
  await using home = tempDir();
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  await Deno.mkdir(`${home.path}/platforms/wecom`, { recursive: true });
  await Deno.writeTextFile(
    `${home.path}/platforms/wecom/device_ids.json`,
    JSON.stringify({ "bot-1": "dev-persisted" }),
  );
  const { code, stdout, stderr } = await runHermes(["wecom", "probe", ...QUICK], {
    home: home.path,
    env: botEnv(home.path, wecom),
  });
  assert.equal(code, 0, stdout + stderr);
  assert.match(stdout, /^healthy\n/);
  assert.match(stdout, /device_id dev-persisted \(persisted\)/);
  assert.match(stdout, /\n {2}ok +heartbeat +\d+ ms +\d+ pings: \d+ acked/);
  assert.deepEqual(subscribes(wecom).map((f) => f.frame?.body?.device_id), [
    "dev-persisted",
    "dev-persisted",
  ]);
});

Deno.test("hermes wecom probe with a wrong secret exits 1 naming errcode 40013, secret masked", async () => {
  await using home = tempDir();
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  const { code, stdout, stderr } = await runHermes(
    ["wecom", "probe", "--json", "--secret", "flag-secret-9731", ...QUICK],
    { home: home.path, env: botEnv(home.path, wecom) },
  );
  assert.equal(code, 1, stdout + stderr);
  const out = parse(stdout, stderr);
  assert.equal(out.verdict, "problem");
  assert.deepEqual(out.findings.map((f) => f.code), ["secret_wrong"]);
  assert.match(out.findings[0]!.message, /errcode 40013/);
  assert.equal(subscribes(wecom)[0]?.frame?.body?.secret, "flag-secret-9731", "the flag wins");
  assert.ok(!`${stdout}${stderr}`.includes("flag-secret-9731"));
  assert.ok(!`${stdout}${stderr}`.includes("secret-1"));
});

Deno.test("hermes wecom probe exits 1 naming missed heartbeats when pings go unanswered", async () => {
  await using home = tempDir();
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  wecom.setPingAcks(false);
  const { code, stdout, stderr } = await runHermes(
    ["wecom", "probe", "--json", ...QUICK, "--reconnects", "0"],
    { home: home.path, env: botEnv(home.path, wecom) },
  );
  assert.equal(code, 1, stdout + stderr);
  const out = parse(stdout, stderr);
  assert.deepEqual(out.findings.map((f) => f.code), ["missed_heartbeats"]);
  assert.match(out.findings[0]!.message, /missed heartbeats/);
  assert.equal(out.steps.find((s) => s.name === "heartbeat")?.ok, false);
});

Deno.test("hermes wecom probe exits 1 naming the takeover when a second client takes the bot", async () => {
  await using home = tempDir();
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  const running = runHermes(["wecom", "probe", "--json", "--duration", "20"], {
    home: home.path,
    env: botEnv(home.path, wecom),
  });
  await wecom.waitForSubscribe("bot-1", 1, 30_000);
  const other = await wecom.takeover("bot-1");
  const { code, stdout, stderr } = await running;
  await other.close();
  assert.equal(code, 1, stdout + stderr);
  const out = parse(stdout, stderr);
  assert.deepEqual(out.findings.map((f) => f.code), ["takeover"]);
  assert.match(out.findings[0]!.message, /takeover/);
  assert.match(out.findings[0]!.message, /disconnected_event/);
  assert.equal(subscribes(wecom).length, 1, "the probe did not take the bot back");
});

Deno.test("hermes wecom probe usage errors exit 2 in one line", async (t) => {
  await using home = tempDir();
  await t.step("no secret configured names WECOM_SECRET", async () => {
    const { code, stdout, stderr } = await runHermes(["wecom", "probe"], {
      home: home.path,
      env: { HERMES_GATEWAY_LOCK_DIR: `${home.path}/locks`, WECOM_BOT_ID: "bot-1" },
    });
    assert.equal(code, 2, stdout + stderr);
    assert.equal(stdout, "");
    assert.equal(stderr.trim().split("\n").length, 1, stderr);
    assert.match(stderr, /WECOM_SECRET is not set/);
    assert.match(stderr, /WECOM_BOT_ID/);
  });
  await t.step("a bad flag value", async () => {
    const { code, stderr } = await runHermes(
      ["wecom", "probe", "--reconnects", "-1", "--bot-id", "b", "--secret", "s3cr3t"],
      { home: home.path },
    );
    assert.equal(code, 2, stderr);
    assert.match(stderr, /--reconnects/);
  });
  await t.step("a URL that is not ws:// or wss://", async () => {
    const { code, stderr } = await runHermes(
      ["wecom", "probe", "--url", "https://example.com", "--bot-id", "b", "--secret", "s3cr3t"],
      { home: home.path },
    );
    assert.equal(code, 2, stderr);
    assert.match(stderr, /ws:\/\/ or wss:\/\//);
  });
});

Deno.test("while a gateway runs in the same home, the probe reads its health and does not steal the link", async () => {
  await using home = tempDir();
  await using wecom = await WecomServer.start({ bots: { "bot-1": "secret-1" } });
  const env = botEnv(home.path, wecom, { GATEWAY_ALLOW_ALL_USERS: "true" });
  await using gateway = await startGateway(home.path, env);
  await wecom.waitForSubscribe("bot-1", 1, 20_000);
  wecom.callback("bot-1", { chatType: "dm", userId: "zs", text: "hello" });
  await waitFor("the gateway to answer", () => wecom.framesOf("aibot_respond_msg").length > 0);
  const { code, stdout, stderr } = await runHermes(["wecom", "probe", "--json", ...QUICK], {
    home: home.path,
    env,
  });
  const out = parse(stdout, stderr);
  assert.equal(code, 0, `${stdout}${stderr}\n--- gateway:\n${gateway.stderr()}`);
  assert.equal(out.verdict, "healthy");
  assert.equal(out.local.gateway.running, true);
  assert.equal(out.local.gateway.pid, gateway.pid);
  assert.equal(out.local.probe_connected, false);
  assert.equal(out.local.credential_lock.holder, "this_gateway");
  assert.ok(out.local.wecom, "the gateway's published WeCom health");
  assert.ok(["subscribed", "receiving"].includes(out.local.wecom.state), out.local.wecom.state);
  assert.equal(out.device_id, out.local.wecom.details.device_id);
  assert.equal(out.device_id, out.local.persisted_device_id);
  assert.deepEqual(out.steps.map((s) => s.name), ["gateway_health"]);
  assert.equal(subscribes(wecom).length, 1, "only the gateway subscribed");
  assert.equal(new Set(wecom.frames.map((f) => f.conn)).size, 1, "one connection: the gateway's");
});
