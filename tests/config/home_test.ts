import assert from "node:assert/strict";
import { ensureHome, hermesPaths, resolveHome } from "../../lib/config/home.ts";
import { ConfigError } from "../../lib/errors.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("resolveHome() prefers HERMES_HOME, else ~/.hermes", () => {
  assert.equal(resolveHome({ HERMES_HOME: "/srv/hermes/", HOME: "/home/ada" }), "/srv/hermes");
  assert.equal(resolveHome({ HOME: "/home/ada" }), "/home/ada/.hermes");
  assert.throws(() => resolveHome({}), ConfigError);
});

Deno.test("ensureHome() creates the home with mode 0700 and leaves an existing one alone", async () => {
  await using dir = tempDir();
  const paths = hermesPaths(`${dir.path}/nested/home`);
  await ensureHome(paths);
  assert.equal((await Deno.stat(paths.home)).mode! & 0o777, 0o700);
  await Deno.chmod(paths.home, 0o750);
  await ensureHome(paths);
  assert.equal((await Deno.stat(paths.home)).mode! & 0o777, 0o750);
});

Deno.test("ensureHome() refuses a home that is a file", async () => {
  await using dir = tempDir();
  const file = `${dir.path}/not-a-folder`;
  await Deno.writeTextFile(file, "");
  await assert.rejects(ensureHome(hermesPaths(file)), /it is a file, not a folder/);
});
