import assert from "node:assert/strict";
import { hermesPaths } from "../../lib/config/home.ts";
import { describeLooseModes, looseModes } from "../../lib/config/home_modes.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("looseModes() names the home and state folders open to others, and nothing else", async () => {
  await using dir = tempDir();
  const paths = hermesPaths(dir.path);
  assert.deepEqual(looseModes(paths), [], "a fresh home of mode 0700 with no folders yet");
  for (const folder of ["logs", "media", "platforms/pairing", "platforms/wecom", "notes"]) {
    Deno.mkdirSync(`${dir.path}/${folder}`, { recursive: true, mode: 0o700 });
    Deno.chmodSync(`${dir.path}/${folder}`, 0o700);
  }
  Deno.chmodSync(`${dir.path}/platforms/wecom`, 0o750);
  Deno.chmodSync(`${dir.path}/logs`, 0o701);
  Deno.chmodSync(`${dir.path}/notes`, 0o777); // the operator's own folder: not hermes' state
  assert.deepEqual(looseModes(paths), [
    { path: `${dir.path}/logs`, mode: "0701" },
    { path: `${dir.path}/platforms/wecom`, mode: "0750" },
  ]);
  assert.equal(
    describeLooseModes([{ path: "/srv/my hermes", mode: "0755" }, {
      path: "/srv/h/logs",
      mode: "0750",
    }]),
    "The hermes home is open to other users: /srv/my hermes is 0755, /srv/h/logs is 0750; it holds secrets and state, so close it with: chmod 700 '/srv/my hermes' /srv/h/logs",
  );
});
