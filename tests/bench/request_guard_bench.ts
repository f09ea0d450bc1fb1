/**
 * The local platform's request guard (Host, Origin, body type) per request
 * (`deno task bench`): its median cost over many rounds, next to the
 * pipeline bench's request latency, to show it costs no measurable
 * throughput. Prints one JSON object.
 *
 * @module
 */

import { RequestGuard } from "../../lib/platforms/local/request_guard.ts";

const ROUNDS = 21;
const PER_ROUND = 50_000;
const guard = new RequestGuard({ boundHost: "127.0.0.1", allowedHosts: ["chat.example.org"] });
const cases = {
  api_post: new Request("http://127.0.0.1:8642/v1/chat/completions", {
    method: "POST",
    headers: { host: "127.0.0.1:8642", "content-type": "application/json" },
  }),
  page_socket: new Request("http://127.0.0.1:8642/ws?user=local", {
    headers: { host: "127.0.0.1:8642", origin: "http://127.0.0.1:8642", upgrade: "websocket" },
  }),
  refused_host: new Request("http://evil.example:8642/", { headers: { host: "evil.example" } }),
};

const results: Record<string, { median_ns: number }> = {};
for (const [name, request] of Object.entries(cases)) {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = performance.now();
    for (let i = 0; i < PER_ROUND; i++) guard.check(request);
    rounds.push(((performance.now() - started) * 1e6) / PER_ROUND);
  }
  rounds.sort((a, b) => a - b);
  results[name] = { median_ns: Math.round(rounds[Math.floor(ROUNDS / 2)]!) };
}
console.log(JSON.stringify({ bench: "local request guard, per request", ...results }, null, 2));
