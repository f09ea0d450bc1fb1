/**
 * A TCP proxy on 127.0.0.1 the test controls, standing for the network
 * between a gateway and its database: `partition()` stops carrying bytes
 * both ways while every connection stays open (packets dropped, as when a
 * host's link goes down: nothing fails, everything hangs), `heal()` carries
 * what waited and what follows, `refuse()` also turns new connections away.
 *
 * @module
 */

/** A running proxy. */
export interface TcpProxy extends AsyncDisposable {
  /** The port it listens on (point the client here instead of the server). */
  readonly port: number;
  /** Stops carrying bytes (and accepting connections) until `heal`. */
  partition(): void;
  /** Carries bytes again, those held back first. */
  heal(): void;
  /** Connections carried so far. */
  readonly connections: number;
}

/**
 * Starts a proxy to `targetPort` on 127.0.0.1, listening on `hostname`
 * (default 127.0.0.1; another address carries a namespace's traffic here).
 *
 * @example
 * ```ts
 * await using proxy = startTcpProxy(5432);
 * proxy.partition();
 * proxy.heal();
 * ```
 */
export function startTcpProxy(
  targetPort: number,
  options: { hostname?: string } = {},
): TcpProxy {
  const listener = Deno.listen({ hostname: options.hostname ?? "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let gate = Promise.withResolvers<void>();
  gate.resolve();
  let cut = false;
  let connections = 0;

  /** Copies `from` to `to`, waiting at the gate before every write. */
  const pump = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        await gate.promise;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // one side went away: the other goes too
    }
    for (const conn of [from, to]) {
      try {
        conn.close();
      } catch { /* already closed */ }
      open.delete(conn);
    }
  };

  const accepting = (async () => {
    for await (const client of listener) {
      await gate.promise; // a partitioned network answers no SYN either
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        client.close();
        continue;
      }
      connections++;
      open.add(client).add(server);
      void pump(client, server);
      void pump(server, client);
    }
  })().catch(() => {});

  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return connections;
    },
    partition() {
      if (cut) return;
      cut = true;
      gate = Promise.withResolvers<void>();
    },
    heal() {
      if (!cut) return;
      cut = false;
      gate.resolve();
    },
    async [Symbol.asyncDispose]() {
      gate.resolve();
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await accepting;
    },
  };
}
