/**
 * `deno task bundle`: writes `dist/hermes.js`, one file that runs wherever
 * Deno runs (`./dist/hermes.js --help`), with every npm dependency inside.
 *
 * @module
 */

import { cliPermissionFlags } from "./permissions.ts";

const root = new URL("..", import.meta.url).pathname;
const output = `${root}dist/hermes.js`;

const bundle = await new Deno.Command(Deno.execPath(), {
  args: ["bundle", "--quiet", "--platform", "deno", "--minify", "-o", output, `${root}cli/main.ts`],
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (!bundle.success) {
  console.error(`Cannot bundle hermes: deno bundle exited with code ${bundle.code}`);
  Deno.exit(1);
}

// The shebang makes the file executable as a program, with the CLI's permissions.
const code = (await Deno.readTextFile(output)).replace(/^#!.*\n/, "");
const shebang = `#!/usr/bin/env -S deno run ${cliPermissionFlags().join(" ")}\n`;
await Deno.writeTextFile(output, shebang + code, { mode: 0o755 });
await Deno.chmod(output, 0o755);
const size = (await Deno.stat(output)).size;
console.log(`Wrote ${output} (${(size / 1024).toFixed(0)} KiB)`);
