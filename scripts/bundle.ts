/**
 * `deno task bundle`: writes `dist/hermes.js`, one file that runs wherever
 * Deno runs (`./dist/hermes.js --help`), with every npm dependency inside.
 *
 * @module
 */

import { cliRunFlags } from "./permissions.ts";

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
const code = withNodeRequire((await Deno.readTextFile(output)).replace(/^#!.*\n/, ""));
const shebang = `#!/usr/bin/env -S deno run ${cliRunFlags().join(" ")}\n`;
await Deno.writeTextFile(output, shebang + code, { mode: 0o755 });
await Deno.chmod(output, 0o755);
const size = (await Deno.stat(output)).size;
console.log(`Wrote ${output} (${(size / 1024).toFixed(0)} KiB)`);

/**
 * CommonJS packages inside the bundle (yaml) `require("node:process")`.
 * `deno bundle` swaps esbuild's throwing `require` shim for Node's
 * `createRequire`, but its pattern misses minified names containing `$`
 * (`var $o=...`), so the swap is done here when it was not.
 */
function withNodeRequire(code: string): string {
  const shim =
    /var ([\w$]+)=\([\w$]+=>typeof require<"u"\?require:typeof Proxy<"u"\?new Proxy\([\w$]+,\{get:\([\w$]+,[\w$]+\)=>\(typeof require<"u"\?require:[\w$]+\)\[[\w$]+\]\}\):[\w$]+\)\(function\([\w$]+\)\{if\(typeof require<"u"\)return require\.apply\(this,arguments\);throw Error\([^}]*\)\}\);/;
  return code.replace(
    shim,
    (_all, name: string) =>
      `import{createRequire as __hermes_createRequire}from"node:module";var ${name}=__hermes_createRequire(import.meta.url);`,
  );
}
