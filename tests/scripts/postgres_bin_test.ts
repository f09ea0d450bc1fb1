import assert from "node:assert/strict";
import { findPostgresBin } from "../../scripts/postgres_bin.ts";
import { tempDir } from "../_helpers.ts";

function fakeInstall(folder: string): void {
  Deno.mkdirSync(folder, { recursive: true });
  for (const name of ["initdb", "pg_ctl", "postgres"]) {
    Deno.writeTextFileSync(`${folder}/${name}`, "#!/bin/sh\n", { mode: 0o755 });
  }
}

Deno.test("findPostgresBin() finds Debian's packaged server when PATH and /usr/local/bin have none, the newest major first", async () => {
  await using root = tempDir();
  fakeInstall(`${root.path}/lib/13/bin`);
  fakeInstall(`${root.path}/lib/15/bin`);
  Deno.mkdirSync(`${root.path}/lib/16/bin`, { recursive: true }); // a client-only install
  assert.equal(
    findPostgresBin({ path: "", extra: [], debianRoot: `${root.path}/lib` }),
    `${root.path}/lib/15/bin`,
  );
});

Deno.test("findPostgresBin() prefers PATH, and says undefined when nothing is installed", async () => {
  await using root = tempDir();
  fakeInstall(`${root.path}/path`);
  fakeInstall(`${root.path}/lib/15/bin`);
  const search = { extra: [], debianRoot: `${root.path}/lib` };
  assert.equal(findPostgresBin({ ...search, path: `${root.path}/path` }), `${root.path}/path`);
  assert.equal(
    findPostgresBin({ path: "", extra: [], debianRoot: `${root.path}/none` }),
    undefined,
  );
});
