import assert from "node:assert/strict";
import { blockedReason } from "../../lib/media/_addresses.ts";
import { MediaCache, MediaTooLargeError } from "../../lib/media/cache.ts";
import { BlockedDownloadError, downloadMedia } from "../../lib/media/download.ts";
import { tempDir } from "../_helpers.ts";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);

/** A web server on 127.0.0.1: `/cat.png` serves PNG, `/to?url=X` redirects to X. */
function server() {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/to") {
      return new Response(null, {
        status: 302,
        headers: { location: url.searchParams.get("url")! },
      });
    }
    if (url.pathname === "/big") return new Response(new Uint8Array(4096));
    return new Response(PNG, { headers: { "content-type": "text/html" } }); // the type lies
  });
}

Deno.test("addresses: loopback, private, link-local, metadata, unique-local are blocked; public ones are not", () => {
  for (
    const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.20.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "::1",
      "[::1]",
      "::",
      "fe80::1",
      "fd00:ec2::254",
      "::ffff:127.0.0.1",
      "::ffff:169.254.169.254",
      "64:ff9b::7f00:1",
      "2002:7f00:1::",
      "2002:a9fe:a9fe::1",
      "198.18.0.1",
    ]
  ) assert.ok(blockedReason(address), address);
  for (const address of ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "172.32.0.1"]) {
    assert.equal(blockedReason(address), undefined, address);
  }
});

Deno.test("the guard refuses the metadata service, [::1], a public name resolving here and redirects to them", async () => {
  await using dir = tempDir();
  await using web = server();
  const cache = new MediaCache(`${dir.path}/media`);
  const local = `http://127.0.0.1:${web.addr.port}`;
  const resolve = (host: string) =>
    Promise.resolve(host === "public.example" ? ["93.184.216.34", "127.0.0.1"] : ["93.184.216.34"]);
  const refused = async (url: string, options: Record<string, unknown> = {}) => {
    const error = await downloadMedia(url, { cache, resolve, ...options }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(error instanceof BlockedDownloadError, `${url}: ${error}`);
    return (error as Error).message;
  };
  assert.match(
    await refused("http://169.254.169.254/latest/meta-data/"),
    /link-local \(cloud metadata\)/,
  );
  assert.match(await refused("http://[::1]/"), /loopback/);
  assert.match(
    await refused("http://public.example/cat.png"),
    /public\.example is 127\.0\.0\.1, a loopback/,
  );
  assert.match(await refused("file:///etc/passwd"), /scheme file: is not http or https/);
  // The local fake may be reached (tests allow 127.0.0.1), but not where it redirects.
  const allow = { allowAddresses: ["127.0.0.1"] };
  assert.match(
    await refused(`${local}/to?url=${encodeURIComponent("http://169.254.169.254/latest")}`, allow),
    /169\.254\.169\.254/,
  );
  assert.match(
    await refused(`${local}/to?url=${encodeURIComponent("http://[::1]:1/")}`, allow),
    /loopback/,
  );
  assert.match(
    await refused(`${local}/to?url=${encodeURIComponent("http://public.example/x")}`, allow),
    /public\.example is 127\.0\.0\.1/,
  );
  assert.deepEqual([...Deno.readDirSync(dir.path)], [], "nothing was stored");
});

Deno.test("an allowed download is stored with its type sniffed from its bytes, within limits", async () => {
  await using dir = tempDir();
  await using web = server();
  const cache = new MediaCache(`${dir.path}/media`, {
    maxFileBytes: 1024,
    maxTotalBytes: 1 << 20,
    maxAgeMs: 3600_000,
  });
  const base = `http://127.0.0.1:${web.addr.port}`;
  const options = { cache, allowAddresses: ["127.0.0.1"] };
  const photo = await downloadMedia(`${base}/cat.png`, options);
  assert.deepEqual([photo.kind, photo.mime, photo.size, photo.name], [
    "image",
    "image/png",
    PNG.length,
    "cat.png",
  ]);
  assert.deepEqual(await Deno.readFile(photo.path), PNG);
  assert.equal((await Deno.stat(photo.path)).mode! & 0o777, 0o600);
  assert.ok(cache.holds(photo.path));
  const tooBig = await downloadMedia(`${base}/big`, options).catch((e) => e);
  assert.ok(tooBig instanceof MediaTooLargeError, String(tooBig));
  const elsewhere = await downloadMedia(`${base}/cat.png`, {
    ...options,
    allowHosts: ["cdn.example"],
  })
    .catch((e) => e);
  assert.match(String(elsewhere), /not on this platform's list/);
});

Deno.test("cleanup removes files past their age, then the oldest beyond the cap", async () => {
  await using dir = tempDir();
  const cache = new MediaCache(`${dir.path}/media`, {
    maxFileBytes: 1024,
    maxTotalBytes: 20,
    maxAgeMs: 60_000,
  });
  const a = await cache.store(new Uint8Array(12).fill(1));
  const b = await cache.store(new Uint8Array(12).fill(2));
  await Deno.utime(a.path, new Date(Date.now() - 30_000), new Date(Date.now() - 30_000));
  assert.equal(await cache.cleanup(), 1, "over the cap: the oldest goes");
  assert.ok(!await Deno.stat(a.path).then(() => true, () => false));
  assert.equal(await cache.cleanup(Date.now() + 120_000), 1, "past its age: the rest goes");
  assert.ok(!await Deno.stat(b.path).then(() => true, () => false));
});
