/**
 * Clients of the local API for the benchmarks: `POST /v1/chat/completions`
 * against the echo agent, each client its own user (so its own session),
 * sending its next message once the previous one is answered.
 *
 * @module
 */

/** Throughput and latency of one run of clients. */
export interface ClientRun {
  readonly clients: number;
  readonly messages: number;
  readonly per_second: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
}

// Numbers every message, across runs, so that no two texts in a process are the same.
let sent = 0;

/** Sends one message as `user`; resolves with its latency in ms; throws unless it is echoed. */
export async function ask(endpoint: URL, user: string): Promise<number> {
  const text = `message ${sent++} about the quarterly weather report 天气很好`;
  const started = performance.now();
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, messages: [{ role: "user", content: text }] }),
  });
  const body = await response.json();
  if (response.status !== 200 || body.choices?.[0]?.message?.content !== text) {
    throw new Error(`Unexpected reply ${response.status}: ${JSON.stringify(body).slice(0, 200)}`);
  }
  return performance.now() - started;
}

/**
 * `messages` spread over `clients` concurrent users named `bench<clients>-<c>`
 * (rounded up to a whole number per client), each sending after its reply.
 */
export async function runClients(
  endpoint: URL,
  clients: number,
  messages: number,
): Promise<ClientRun> {
  const latencies: number[] = [];
  const perClient = Math.ceil(messages / clients);
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; i < perClient; i++) {
      latencies.push(await ask(endpoint, `bench${clients}-${c}`));
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return {
    clients,
    messages: latencies.length,
    per_second: Math.round(latencies.length / seconds),
    p50_ms: +at(0.5).toFixed(2),
    p99_ms: +at(0.99).toFixed(2),
  };
}
