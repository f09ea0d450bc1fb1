import assert from "node:assert/strict";
import { ConfigError } from "../../lib/errors.ts";
import type { PlatformAdapter } from "../../lib/platforms/adapter.ts";
import { LinkHealthTracker } from "../../lib/platforms/health.ts";
import { PlatformLinks } from "../../lib/platforms/links.ts";
import { Logger } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";

/**
 * An adapter whose connects fail `failures` times (with a ConfigError when
 * `configError` is set), or never finish when `hang` is set. Its disconnect
 * marks its health stopped, as the local adapter does, unless `silentStop`.
 */
function flaky(
  name: string,
  behaviour: {
    failures?: number;
    hang?: boolean;
    configError?: string;
    silentStop?: boolean;
    now?: () => Date;
  },
) {
  let attempts = 0;
  let disconnects = 0;
  const health = new LinkHealthTracker(behaviour.now);
  const adapter: PlatformAdapter = {
    name,
    capabilities: { streaming: "final", maxMessageLength: 100 },
    connect() {
      attempts++;
      if (behaviour.hang && attempts === 1) return new Promise(() => {});
      if (attempts <= (behaviour.failures ?? 0)) {
        return Promise.reject(
          behaviour.configError
            ? new ConfigError(behaviour.configError)
            : new Error(`refused (attempt ${attempts})`),
        );
      }
      health.set("subscribed");
      return Promise.resolve();
    },
    disconnect() {
      disconnects++;
      if (!behaviour.silentStop) health.set("stopped");
      return Promise.resolve();
    },
    send: () => Promise.resolve({ status: "sent", messageId: "x" }),
    health: () => health.snapshot(),
  };
  return { adapter, attempts: () => attempts, disconnects: () => disconnects };
}

const log = () => new Logger({ level: "error", sinks: [], masker: new SecretMasker() });

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), "condition not reached in time");
}

Deno.test("a platform that fails to connect is retried in the background while the others serve", async () => {
  const good = flaky("good", {});
  const bad = flaky("bad", { failures: 2 });
  const connected: string[] = [];
  const links = new PlatformLinks([good.adapter, bad.adapter], {
    log: log(),
    connectTimeoutMs: 1_000,
    backoff: { baseMs: 10, maxMs: 40 },
    onConnected: (name) => connected.push(name),
  });
  await links.connectAll();
  assert.equal(links.isConnected("good"), true);
  assert.equal(links.isConnected("bad"), false);
  await until(() => links.isConnected("bad"));
  assert.equal(bad.attempts(), 3);
  assert.deepEqual(connected, ["good", "bad"]);
  assert.equal(links.snapshot().bad?.connected, true);
  await links.disconnectAll("test over");
});

Deno.test("a connect that hangs is cut off by the connect timeout and retried", async () => {
  const slow = flaky("slow", { hang: true });
  const links = new PlatformLinks([slow.adapter], {
    log: log(),
    connectTimeoutMs: 50,
    backoff: { baseMs: 10, maxMs: 20 },
  });
  await links.connectAll();
  assert.equal(links.isConnected("slow"), false);
  assert.equal(slow.disconnects(), 1, "the hung attempt is torn down");
  await until(() => links.isConnected("slow"));
  assert.equal(slow.attempts(), 2);
  await links.disconnectAll("test over");
});

Deno.test("disconnectAll stops pending retries", async () => {
  const never = flaky("never", { failures: 1_000 });
  const links = new PlatformLinks([never.adapter], {
    log: log(),
    connectTimeoutMs: 50,
    backoff: { baseMs: 30, maxMs: 30 },
  });
  await links.connectAll();
  await links.disconnectAll("stopping");
  const attempts = never.attempts();
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(never.attempts(), attempts);
});

Deno.test("a first connect failing with a ConfigError rejects connectAll with it and is not retried", async () => {
  const message = "Cannot listen on 127.0.0.1:8642: the port is taken by another process";
  const taken = flaky("taken", { failures: 1_000, configError: message });
  const good = flaky("good", {});
  const links = new PlatformLinks([taken.adapter, good.adapter], {
    log: log(),
    connectTimeoutMs: 1_000,
    backoff: { baseMs: 5, maxMs: 5 },
  });
  const error = await links.connectAll().then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof ConfigError, String(error));
  assert.equal(error.message, message);
  assert.equal(error.exitCode, 78);
  assert.equal(links.isConnected("good"), true, "the other platforms' first attempts finished");
  assert.equal(taken.disconnects(), 1, "the failed attempt is torn down");
  const fatal = links.snapshot().taken;
  assert.equal(fatal?.state, "fatal");
  assert.equal(fatal?.connected, false);
  assert.equal(fatal?.last_error?.code, "config_invalid");
  assert.equal(fatal?.last_error?.message, message);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(taken.attempts(), 1, "no retry in the background");
  await links.disconnectAll("start failed");
});

Deno.test("a ConfigError after a first attempt that failed otherwise keeps the background retry", async () => {
  let attempts = 0;
  const health = new LinkHealthTracker();
  const adapter: PlatformAdapter = {
    ...flaky("later", {}).adapter,
    connect() {
      attempts++;
      if (attempts === 1) return Promise.reject(new Error("network down"));
      if (attempts === 2) return Promise.reject(new ConfigError("Cannot listen: port taken"));
      health.set("subscribed");
      return Promise.resolve();
    },
    health: () => health.snapshot(),
  };
  const links = new PlatformLinks([adapter], {
    log: log(),
    connectTimeoutMs: 1_000,
    backoff: { baseMs: 5, maxMs: 5 },
  });
  await links.connectAll();
  await until(() => links.isConnected("later"));
  assert.equal(attempts, 3);
  await links.disconnectAll("test over");
});

Deno.test("after disconnectAll every platform reads stopped, not connected, with the time it stopped", async (t) => {
  await t.step("the adapter's health records the stop", async () => {
    const at = new Date("2030-01-02T03:04:05.000Z");
    const local = flaky("local", { now: () => at });
    const links = new PlatformLinks([local.adapter], { log: log(), connectTimeoutMs: 1_000 });
    await links.connectAll();
    assert.equal(links.snapshot().local?.connected, true);
    assert.equal(links.snapshot().local?.stopped_at, null);
    await links.disconnectAll("gateway stopping");
    const stopped = links.snapshot().local;
    assert.equal(stopped?.state, "stopped");
    assert.equal(stopped?.connected, false);
    assert.equal(stopped?.stopped_at, "2030-01-02T03:04:05.000Z");
  });
  await t.step("an adapter that does not say so still reads stopped", async () => {
    const quiet = flaky("quiet", { silentStop: true });
    const links = new PlatformLinks([quiet.adapter], {
      log: log(),
      connectTimeoutMs: 1_000,
      now: () => new Date("2030-05-06T07:08:09.000Z"),
    });
    await links.connectAll();
    assert.equal(quiet.adapter.health().state, "subscribed");
    await links.disconnectAll("gateway stopping");
    assert.deepEqual(
      [links.snapshot().quiet?.state, links.snapshot().quiet?.connected],
      ["stopped", false],
    );
    assert.equal(links.snapshot().quiet?.stopped_at, "2030-05-06T07:08:09.000Z");
  });
});

Deno.test("a platform whose slow connect finishes after disconnectAll is not counted as connected", async () => {
  const gate = Promise.withResolvers<void>();
  let disconnects = 0;
  const health = new LinkHealthTracker();
  const slow: PlatformAdapter = {
    name: "slow",
    capabilities: { streaming: "final", maxMessageLength: 100 },
    async connect() {
      await gate.promise;
      health.set("subscribed");
    },
    disconnect() {
      disconnects++;
      health.set("stopped");
      return Promise.resolve();
    },
    send: () => Promise.resolve({ status: "sent", messageId: "x" }),
    health: () => health.snapshot(),
  };
  const links = new PlatformLinks([slow], { log: log(), connectTimeoutMs: 5_000 });
  const connecting = links.connectAll();
  await links.disconnectAll("gateway stopping");
  gate.resolve(); // the link comes up only now
  await connecting;
  assert.equal(links.isConnected("slow"), false);
  assert.equal(links.snapshot().slow!.connected, false);
  assert.equal(disconnects, 2, "disconnected again once its connect finished");
  assert.equal(health.state, "stopped");
});

Deno.test("a platform whose connect fails and is retried reads retrying with the failure, not stopped", async () => {
  const platform = flaky("wecom", { failures: 2 });
  const links = new PlatformLinks([platform.adapter], {
    log: log(),
    connectTimeoutMs: 1000,
    backoff: { baseMs: 30, maxMs: 30 },
  });
  await links.connectAll();
  const retrying = links.snapshot().wecom!;
  assert.equal(retrying.state, "retrying", "its disconnect said stopped; it is being retried");
  assert.equal(retrying.connected, false);
  assert.equal(retrying.last_error?.code, "connect_failed");
  assert.match(retrying.last_error?.message ?? "", /refused \(attempt 1\)/);
  await until(() => links.isConnected("wecom"));
  assert.equal(links.snapshot().wecom!.state, "subscribed");
  await links.disconnectAll("done");
  assert.equal(links.snapshot().wecom!.state, "stopped");
});
