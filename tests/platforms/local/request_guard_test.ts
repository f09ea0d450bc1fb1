import assert from "node:assert/strict";
import { RequestGuard } from "../../../lib/platforms/local/request_guard.ts";

const request = (host: string, init: { method?: string; headers?: Record<string, string> } = {}) =>
  new Request(`http://127.0.0.1:8642/v1/chat/completions`, {
    method: init.method ?? "GET",
    headers: { host, ...init.headers },
  });

Deno.test("Host must name this server: its address, localhost, loopback or an allowed name", () => {
  const guard = new RequestGuard({ boundHost: "127.0.0.1", allowedHosts: ["Chat.Example.org"] });
  for (
    const host of [
      "127.0.0.1:8642",
      "localhost:8642",
      "LOCALHOST",
      "[::1]:8642",
      "chat.example.org",
    ]
  ) {
    assert.equal(guard.check(request(host)), undefined, host);
  }
  for (const host of ["evil.example", "127.0.0.1.evil.example", "192.168.1.4:8642", "[::2]:8642"]) {
    assert.equal(guard.check(request(host))?.status, 403, host);
  }
});

Deno.test("bound to a wildcard address, any IP literal is this server; names still need listing", () => {
  const v4 = new RequestGuard({ boundHost: "0.0.0.0", allowedHosts: [".corp.example"] });
  assert.equal(v4.check(request("10.1.2.3:8642")), undefined);
  assert.equal(v4.check(request("[fe80::1]:8642")), undefined);
  assert.equal(v4.check(request("team.corp.example")), undefined);
  assert.equal(
    v4.check(request("corp.example"))?.status,
    403,
    "'.corp.example' covers subdomains only",
  );
  assert.equal(v4.check(request("rebind.evil"))?.status, 403);
});

Deno.test("writes and WebSocket upgrades need a same-origin Origin or none; reads do not", () => {
  const guard = new RequestGuard({ boundHost: "127.0.0.1", allowedHosts: [] });
  const json = { "content-type": "application/json" };
  const post = (origin?: string) =>
    guard.check(request("127.0.0.1:8642", {
      method: "POST",
      headers: origin ? { ...json, origin } : json,
    }));
  assert.equal(post(), undefined);
  assert.equal(post("http://127.0.0.1:8642"), undefined);
  assert.equal(post("https://127.0.0.1:8642"), undefined, "same host behind TLS termination");
  assert.equal(post("http://127.0.0.1:9999")?.status, 403, "another port is another origin");
  assert.equal(post("http://localhost:8642")?.status, 403, "another name is another origin");
  assert.equal(post("null")?.status, 403, "sandboxed frames and file:// pages");
  assert.equal(
    guard.check(request("127.0.0.1:8642", { headers: { origin: "https://evil.example" } })),
    undefined,
  );
  const upgrade = { upgrade: "websocket", origin: "https://evil.example" };
  assert.equal(guard.check(request("127.0.0.1:8642", { headers: upgrade }))?.status, 403);
  const preflight = { origin: "https://evil.example" };
  assert.equal(
    guard.check(request("127.0.0.1:8642", { method: "OPTIONS", headers: preflight }))?.status,
    403,
  );
});

Deno.test("a POST body must be declared JSON (415 otherwise)", () => {
  const guard = new RequestGuard({ boundHost: "127.0.0.1", allowedHosts: [] });
  const post = (type?: string) =>
    guard.check(request("127.0.0.1:8642", {
      method: "POST",
      headers: type ? { "content-type": type } : {},
    }));
  assert.equal(post("application/json"), undefined);
  assert.equal(post("Application/JSON; charset=utf-8"), undefined);
  for (
    const type of [
      undefined,
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
    ]
  ) {
    const refusal = post(type);
    assert.equal(refusal?.status, 415, String(type));
    assert.equal(refusal?.reason, "Unsupported request body: send Content-Type: application/json");
  }
});
