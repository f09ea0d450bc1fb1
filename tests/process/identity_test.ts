import assert from "node:assert/strict";
import {
  childrenOf,
  isGatewayCommand,
  readIdentity,
  readIdentityFromPs,
} from "../../lib/process/identity.ts";

Deno.test("readIdentity() reads start time and command line of a live process", async () => {
  await using child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  // Right after fork the child still shows deno's command line; wait for the exec.
  for (let i = 0; i < 100 && !readIdentity(child.pid)?.cmdline[0]?.endsWith("sleep"); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const identity = readIdentity(child.pid);
  assert.ok(identity);
  assert.match(identity.cmdline[0]!, /(^|\/)sleep$/);
  assert.deepEqual(identity.cmdline.slice(1), ["30"]);
  assert.ok(identity.startTime >= readIdentity(1)!.startTime);
  assert.equal(readIdentity(child.pid)!.startTime, identity.startTime, "start time is stable");
  child.kill("SIGKILL");
  await child.status;
  assert.equal(readIdentity(child.pid), undefined, "a reaped process is gone");
});

Deno.test("readIdentity() answers undefined for impossible PIDs", () => {
  assert.equal(readIdentity(0), undefined);
  assert.equal(readIdentity(-5), undefined);
  assert.equal(readIdentity(2 ** 22 + 12345), undefined);
});

Deno.test("isGatewayCommand() recognises hermes gateway runs only", () => {
  assert.ok(isGatewayCommand(["deno", "run", "-A", "/src/hermes/cli/main.ts", "gateway", "run"]));
  assert.ok(isGatewayCommand(["/usr/local/bin/hermes", "-v", "gateway", "run", "--replace"]));
  assert.ok(isGatewayCommand(["deno", "run", "/opt/dist/hermes.js", "gateway"]));
  assert.ok(isGatewayCommand(["/opt/hermes-x86_64-unknown-linux-gnu", "gateway", "run"]));
  assert.ok(isGatewayCommand(["/usr/bin/hermes", "--log-format", "json", "gateway", "run"]));
  assert.ok(isGatewayCommand(["/usr/bin/hermes", "gateway", "restart"]));
  assert.ok(!isGatewayCommand(["sleep", "60"]));
  assert.ok(!isGatewayCommand(["/usr/local/bin/hermes", "gateway", "status"]));
  assert.ok(!isGatewayCommand(["/usr/local/bin/hermes", "gateway", "stop"]));
  assert.ok(!isGatewayCommand(["/usr/local/bin/hermes", "config", "check"]));
});

Deno.test("childrenOf() lists a live child with its start time", async () => {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const found = childrenOf(Deno.pid).find((c) => c.pid === child.pid);
    assert.ok(found, "the sleep child is listed");
    assert.equal(found.startTime, readIdentity(child.pid)?.startTime);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assert.ok(!childrenOf(Deno.pid).some((c) => c.pid === child.pid), "a reaped child is gone");
});

Deno.test("readIdentityFromPs() (systems without /proc) tells a live process, its command and a stable start", async () => {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const first = readIdentityFromPs(child.pid);
    assert.ok(first, "the sleep child is found");
    assert.deepEqual(first.cmdline, readIdentity(child.pid)?.cmdline, "same command line as /proc");
    assert.ok(Math.abs(first.startTime - Date.now() / 1000) < 120, "start time in epoch seconds");
    assert.equal(readIdentityFromPs(child.pid)?.startTime, first.startTime, "stable across reads");
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assert.equal(readIdentityFromPs(child.pid), undefined, "a reaped process is gone");
});
