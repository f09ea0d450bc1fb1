import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { runHermes, tempDir } from "../_helpers.ts";
import { startGateway } from "./_gateway.ts";

function hermes(home: string, args: string[]) {
  return runHermes(args, { home, env: { HERMES_GATEWAY_LOCK_DIR: `${home}/locks` } });
}

/** Every file and folder under `root` whose mode lets group or others in, as "path 0644". */
function openToOthers(root: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(root)) {
    const path = `${root}/${entry.name}`;
    const mode = Deno.lstatSync(path).mode! & 0o777;
    if (!entry.isSymlink && (mode & 0o077) !== 0) {
      found.push(`${path.slice(root.length)} 0${mode.toString(8)}`);
    }
    if (entry.isDirectory) found.push(...openToOthers(path).map((p) => `/${entry.name}${p}`));
  }
  return found;
}

Deno.test("a gateway run writes every file of its home 0600 and every folder 0700, running and after stop", async () => {
  await using dir = tempDir();
  const home = `${dir.path}/home`; // created by the gateway
  const paths = hermesPaths(home);
  const gateway = await startGateway(home, { HERMES_GATEWAY_LOCK_DIR: `${home}/locks` });
  try {
    assert.equal(Deno.statSync(home).mode! & 0o777, 0o700);
    for (const file of [paths.pidFile, paths.runtimeStatus, paths.stateDb, paths.gatewayLog]) {
      assert.equal(Deno.statSync(file).mode! & 0o777, 0o600, file);
    }
    assert.deepEqual(openToOthers(home), [], "nothing is open to other users while it runs");
    const status = await hermes(home, ["gateway", "status"]);
    assert.doesNotMatch(status.stdout, /warning/);
  } finally {
    const stop = await hermes(home, ["gateway", "stop"]);
    assert.equal(stop.code, 0, stop.stderr);
    await gateway[Symbol.asyncDispose]();
  }
  assert.equal(Deno.statSync(paths.runtimeStatus).mode! & 0o777, 0o600, "the final state write");
  assert.deepEqual(openToOthers(home), [], "nothing is open to other users after the stop");
});

Deno.test("a home open to others is named in the start log and in status with the chmod that closes it, and left as it is", async () => {
  await using dir = tempDir();
  Deno.chmodSync(dir.path, 0o755);
  const paths = hermesPaths(dir.path);
  await using gateway = await startGateway(dir.path);
  const fix = `chmod 700 ${dir.path}`;
  const warning = `The hermes home is open to other users: ${dir.path} is 0755; ` +
    `it holds secrets and state, so close it with: ${fix}`;
  const logged = (text: string) =>
    text.split("\n").filter((line) => line.includes('"level":"warn"') && line.includes(warning));
  assert.equal(logged(gateway.stderr()).length, 1, gateway.stderr());
  assert.equal(logged(Deno.readTextFileSync(paths.gatewayLog)).length, 1, "in logs/gateway.log");

  const human = await hermes(dir.path, ["gateway", "status"]);
  assert.equal(human.code, 0, human.stderr);
  assert.ok(human.stdout.includes(`\n  warning: ${warning}\n`), human.stdout);
  const json = JSON.parse((await hermes(dir.path, ["gateway", "status", "--json"])).stdout);
  assert.deepEqual(json.loose_modes, [{ path: dir.path, mode: "0755" }]);

  const stopped = await hermes(dir.path, ["gateway", "stop"]);
  assert.equal(stopped.code, 0, stopped.stderr);
  const after = await hermes(dir.path, ["gateway", "status"]);
  assert.equal(after.code, 3);
  assert.ok(after.stdout.includes(`\n  warning: ${warning}\n`), "also when not running");
  assert.equal(
    Deno.statSync(dir.path).mode! & 0o777,
    0o755,
    "the operator's folder is not changed",
  );
});
