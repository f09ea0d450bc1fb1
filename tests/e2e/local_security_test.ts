import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { hermesPaths } from "../../lib/config/home.ts";
import { tempDir } from "../_helpers.ts";
import { launchBrowser } from "./_browser.ts";
import { ChatClient, startLocalGateway } from "./_local.ts";

/** Sends one raw HTTP/1.1 request (any Host, any headers) and reads the status and body. */
async function raw(
  port: number,
  head: string,
  body = "",
): Promise<{ status: number; body: string }> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = new TextEncoder().encode(body);
  const length = bytes.length ? `\r\nContent-Length: ${bytes.length}` : "";
  const close = /\r\nConnection:/i.test(head) ? "" : "\r\nConnection: close";
  await conn.write(new TextEncoder().encode(`${head}${length}${close}\r\n\r\n`));
  await conn.write(bytes);
  // Read the head, then as many bytes as it announces (the server may keep the link open).
  const reader = conn.readable.getReader();
  let text = "";
  const decoder = new TextDecoder();
  for (;;) {
    const split = text.indexOf("\r\n\r\n");
    if (split >= 0) {
      const announced = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split))?.[1] ?? 0);
      if (new TextEncoder().encode(text.slice(split + 4)).length >= announced) break;
    }
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}

/** What state.db holds: inbound messages and transcript rows. */
function stored(home: string): { inbound: number; messages: number } {
  const db = new DatabaseSync(hermesPaths(home).stateDb, { readOnly: true });
  try {
    const count = (table: string) =>
      Number((db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);
    return { inbound: count("inbound_journal"), messages: count("messages") };
  } finally {
    db.close();
  }
}

const COMPLETION = JSON.stringify({ messages: [{ role: "user", content: "run rm -rf ~" }] });

Deno.test("a foreign Host, a foreign Origin or a non-JSON POST is refused with 403/415 and stores nothing", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  const port = Number(new URL(local.url).port);
  const post = (headers: string) =>
    raw(port, `POST /v1/chat/completions HTTP/1.1\r\n${headers}`, COMPLETION);

  // DNS rebinding: a name that resolves here but is not this server's.
  const rebound = await raw(port, "GET /healthz HTTP/1.1\r\nHost: evil.example:8642");
  assert.equal(rebound.status, 403);
  assert.match(
    JSON.parse(rebound.body).error.message,
    /^Forbidden: Host evil\.example is not this server's name: add it to local\.allowed_hosts/,
  );
  assert.equal(
    (await post("Host: evil.example\r\nContent-Type: application/json")).status,
    403,
  );
  // CSRF: a page elsewhere posting what a form or a no-cors fetch can send.
  const csrf = await post(
    `Host: 127.0.0.1:${port}\r\nOrigin: https://evil.example\r\nContent-Type: text/plain`,
  );
  assert.equal(csrf.status, 403);
  assert.match(JSON.parse(csrf.body).error.message, /^Forbidden: Origin https:\/\/evil\.example/);
  assert.equal(JSON.parse(csrf.body).error.type, "permission_error");
  const plain = await post(`Host: 127.0.0.1:${port}\r\nContent-Type: text/plain`);
  assert.equal(plain.status, 415);
  assert.match(JSON.parse(plain.body).error.message, /send Content-Type: application\/json/);
  const upgrade = await raw(
    port,
    `GET /ws?user=local HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: http://evil.example\r\n` +
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  );
  assert.equal(upgrade.status, 403);
  assert.deepEqual(stored(home.path), { inbound: 0, messages: 0 });
  assert.match(local.gateway.stderr(), /local request refused/);

  // Clients that send no Origin (curl, SDKs) and the bound address keep working.
  const ok = await post(`Host: 127.0.0.1:${port}\r\nContent-Type: application/json; charset=utf-8`);
  assert.equal(ok.status, 200, ok.body);
  assert.equal(JSON.parse(ok.body).choices[0].message.content, "run rm -rf ~");
  const named = await raw(port, `GET /healthz HTTP/1.1\r\nHost: localhost:${port}`);
  assert.equal(named.status, 200);
});

Deno.test("local.allowed_hosts lets a reverse proxy's name in; subdomains with a leading dot", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path, {
    LOCAL_ALLOWED_HOSTS: "chat.example.org, .corp.example",
  });
  const port = Number(new URL(local.url).port);
  const get = (host: string) => raw(port, `GET /healthz HTTP/1.1\r\nHost: ${host}`);
  assert.equal((await get("chat.example.org")).status, 200);
  assert.equal((await get("team.corp.example:443")).status, 200);
  assert.equal((await get("corp.example.evil")).status, 403);
});

Deno.test("in Chromium, a page on another origin cannot use the gateway; its own page can", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path);
  const gatewayPort = Number(new URL(local.url).port);
  // The attacker's page, on another origin (another port, and a name that resolves here).
  await using evil = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      new Response(
        `<!doctype html><title>evil</title><script>
        const target = "127.0.0.1:${gatewayPort}";
        window.results = {};
        const ws = new WebSocket("ws://" + target + "/ws?user=local");
        ws.onmessage = (e) => { window.results.ws = "frame: " + e.data; };
        ws.onclose = () => { window.results.ws ??= "closed"; };
        const body = JSON.stringify({ messages: [{ role: "user", content: "pwned" }] });
        fetch("http://" + target + "/v1/chat/completions", { method: "POST", body,
          headers: { "content-type": "application/json" } })
          .then((r) => r.text(), (e) => "rejected: " + e.name).then((t) => window.results.json = t);
        fetch("http://" + target + "/v1/chat/completions", { method: "POST", body, mode: "no-cors",
          headers: { "content-type": "text/plain" } })
          .then(() => "sent", (e) => "rejected: " + e.name).then((t) => window.results.plain = t);
      </script>`,
        { headers: { "content-type": "text/html" } },
      ),
  );
  await using browser = await launchBrowser([
    "--host-resolver-rules=MAP evil.example 127.0.0.1",
  ]);
  const { page } = await browser.page();
  const statuses: string[] = [];
  page.on("response", (r) => {
    if (new URL(r.url()).port === String(gatewayPort)) {
      statuses.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
    }
  });
  const consoleLines: string[] = [];
  page.on("console", (m) => consoleLines.push(m.text()));

  await page.goto(`http://evil.example:${evil.addr.port}/`);
  await page.waitForFunction(() => {
    const r = (globalThis as unknown as { results: Record<string, string> }).results;
    return r.ws && r.json && r.plain;
  });
  const results = await page.evaluate(() =>
    (globalThis as unknown as { results: Record<string, string> }).results
  );
  assert.equal(results.ws, "closed", "the socket never delivered a frame");
  assert.equal(results.json, "rejected: TypeError", "the preflight was refused");
  assert.ok(
    consoleLines.some((l) => /WebSocket connection .* failed.*403/.test(l)),
    consoleLines.join("\n"),
  );
  assert.ok(statuses.includes("POST /v1/chat/completions 403"), statuses.join(", "));

  // DNS rebinding: the attacker's name pointed at this machine reaches the gateway's port.
  const rebound = await page.goto(`http://evil.example:${gatewayPort}/`);
  assert.equal(rebound?.status(), 403);
  assert.deepEqual(stored(home.path), { inbound: 0, messages: 0 });

  // The gateway's own page works.
  await page.goto(local.url);
  await page.getByText("connected as local").waitFor();
  await page.locator("#input").fill("same origin");
  await page.locator("#input").press("Enter");
  await page.locator(".msg.assistant", { hasText: "same origin" }).waitFor();
  assert.deepEqual(stored(home.path), { inbound: 1, messages: 2 });
});

Deno.test("off loopback /healthz needs the key too", async () => {
  await using home = tempDir();
  await using local = await startLocalGateway(home.path, {
    LOCAL_HOST: "0.0.0.0",
    LOCAL_API_KEY: "sekrit",
  });
  const port = Number(new URL(local.url).port);
  const anonymous = await raw(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}`);
  assert.equal(anonymous.status, 401);
  const keyed = await raw(
    port,
    `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer sekrit`,
  );
  assert.equal(keyed.status, 200);
  assert.equal(JSON.parse(keyed.body).gateway, "running");
  // The page's socket with a wrong key is refused, and a plain GET of it says why.
  await using chat = new ChatClient(local.url.replace("0.0.0.0", "127.0.0.1"), "zoe");
  await assert.rejects(chat.ready(), /cannot connect/);
  const why = await fetch(`http://127.0.0.1:${port}/ws?user=zoe&token=wrong`);
  assert.equal(why.status, 401);
  assert.match((await why.json()).error.message, /Missing or invalid API key/);
});
