import assert from "node:assert/strict";
import type { PlatformAdapter } from "../../lib/platforms/adapter.ts";
import { LinkHealthTracker } from "../../lib/platforms/health.ts";
import { PlatformLinks } from "../../lib/platforms/links.ts";
import { Logger } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";

/** An adapter whose connects fail `failures` times, or never finish when `hang` is set. */
function flaky(name: string, behaviour: { failures?: number; hang?: boolean }) {
  let attempts = 0;
  let disconnects = 0;
  const health = new LinkHealthTracker();
  const adapter: PlatformAdapter = {
    name,
    capabilities: { edit: false, liveEdits: false, maxMessageLength: 100 },
    connect() {
      attempts++;
      if (behaviour.hang && attempts === 1) return new Promise(() => {});
      if (attempts <= (behaviour.failures ?? 0)) {
        return Promise.reject(new Error(`refused (attempt ${attempts})`));
      }
      health.set("subscribed");
      return Promise.resolve();
    },
    disconnect() {
      disconnects++;
      return Promise.resolve();
    },
    send: () => Promise.resolve({ messageId: "x" }),
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
