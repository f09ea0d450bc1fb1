import assert from "node:assert/strict";
import { ROOT, runHermes, tempDir } from "../_helpers.ts";
import { startInBackground } from "../gateway/_gateway.ts";
import { startLocalGatewayWith } from "./_local.ts";

Deno.test("dist/hermes.js runs from an empty folder with an empty DENO_DIR", async () => {
  const build = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/bundle.ts`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(build.success, new TextDecoder().decode(build.stderr));
  const bundle = `${ROOT}dist/hermes.js`;
  assert.ok(
    (await Deno.readTextFile(bundle)).startsWith(
      "#!/usr/bin/env -S deno run --no-prompt --allow-all",
    ),
  );
  assert.equal((await Deno.stat(bundle)).mode! & 0o111, 0o111);

  await using cwd = tempDir();
  await using denoDir = tempDir();
  await using home = tempDir();
  const options = {
    home: `${home.path}/h`,
    cwd: cwd.path,
    entry: bundle,
    env: { DENO_DIR: denoDir.path },
  };
  const version = await runHermes(["--version"], options);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^hermes \d+\.\d+\.\d+\n$/);
  const check = await runHermes(["config", "check"], options);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /^Config OK/);
  assert.deepEqual([...Deno.readDirSync(cwd.path)], [], "the bundle wrote into the working folder");
  await Deno.writeTextFile(`${home.path}/h/config.yaml`, "gateway:\n  drain_timeout: -1\n");
  const bad = await runHermes(["config", "check"], options);
  assert.equal(bad.code, 78);
  assert.match(bad.stderr, /gateway\.drain_timeout: Too small/);
  await Deno.remove(`${home.path}/h/config.yaml`);

  // The gateway itself: the platform code it loads on start and the embedded markdown-it.
  await using gateway = await startLocalGatewayWith(
    `${home.path}/h`,
    () =>
      startInBackground(
        ["run", "--no-prompt", "--allow-all", bundle, "gateway", "run"],
        `${home.path}/h`,
        { DENO_DIR: denoDir.path },
      ),
  );
  const page = await fetch(gateway.url);
  assert.match(await page.text(), /<script type="module" src="chat.js">/);
  const markdown = await fetch(new URL("markdown-it.js", gateway.url));
  assert.match(await markdown.text(), /^\/\*! markdown-it 15\.0\.3/);
  const reply = await fetch(new URL("v1/chat/completions", gateway.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "from the bundle" }] }),
  });
  assert.equal((await reply.json()).choices[0].message.content, "from the bundle");
});
