import assert from "node:assert/strict";
import { callControl, ControlRefusal } from "../../lib/gateway/control_client.ts";
import {
  MAX_CONNECTIONS,
  MAX_REQUEST_BYTES,
  serveControl,
} from "../../lib/gateway/control_server.ts";
import { HermesError, UsageError } from "../../lib/errors.ts";
import { Logger } from "../../lib/util/log.ts";
import { SecretMasker } from "../../lib/util/secret_mask.ts";
import { tempDir } from "../_helpers.ts";

const quiet = () => new Logger({ level: "error", sinks: [], masker: new SecretMasker() });

async function rawExchange(path: string, text: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    await conn.write(new TextEncoder().encode(text));
    const buffer = new Uint8Array(64 * 1024);
    let answer = "";
    while (answer.split("\n").length - 1 < text.split("\n").filter((l) => l.trim()).length) {
      const n = await conn.read(buffer);
      if (n === null) break;
      answer += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return answer;
  } finally {
    conn.close();
  }
}

Deno.test("the control socket is 0600, answers methods, and is removed on close", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.sock`;
  await Deno.writeTextFile(path, "left by a dead gateway");
  const server = await serveControl(path, { status: () => ({ state: "running" }) }, quiet());
  assert.ok(server);
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  assert.deepEqual(await callControl(path, "status"), { state: "running" });
  await server.close();
  await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
});

Deno.test("malformed and unknown requests get an error answer and the connection goes on", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.sock`;
  await using _server = await serveControl(path, { ping: (p) => ({ pong: p.n ?? null }) }, quiet());
  const answer = await rawExchange(
    path,
    'not json\n{"id":7,"method":"nope"}\n[1]\n{"id":8,"method":"ping","params":{"n":3}}\n',
  );
  const lines = answer.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines[0].error.code, "bad_request");
  assert.deepEqual([lines[1].id, lines[1].ok, lines[1].error.code], [7, false, "unknown_method"]);
  assert.match(lines[1].error.message, /known: ping/);
  assert.equal(lines[2].error.code, "bad_request");
  assert.deepEqual(lines[3], { id: 8, ok: true, result: { pong: 3 } });
});

Deno.test("an over-long request line is refused and its connection closed", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.sock`;
  await using _server = await serveControl(path, { ping: () => "pong" }, quiet());
  const answer = await rawExchange(path, `${"x".repeat(MAX_REQUEST_BYTES + 10)}`);
  assert.equal(JSON.parse(answer.trim()).error.code, "too_large");
  assert.equal(await callControl(path, "ping"), "pong", "the server still serves others");
});

Deno.test("a method that throws is reported to the caller as a refusal", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.sock`;
  const methods = {
    drain: () => {
      throw new Error("Cannot drain twice");
    },
  };
  await using _server = await serveControl(path, methods, quiet());
  await assert.rejects(
    callControl(path, "drain"),
    (error) =>
      error instanceof HermesError && error.code === "control_error" &&
      error.message.includes("Cannot drain twice"),
  );
});

Deno.test("a deliberate refusal keeps its code and hint; anything else is `failed`", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.sock`;
  const methods = {
    send: () => {
      throw new UsageError('Cannot send to "x:y": there is no platform "x"', "hermes send local:y");
    },
    crash: () => {
      throw new TypeError("undefined is not a function");
    },
  };
  await using _server = await serveControl(path, methods, quiet());
  const refusal = await callControl(path, "send").catch((error) => error);
  assert.ok(refusal instanceof ControlRefusal);
  assert.deepEqual(
    [refusal.code, refusal.reason, refusal.detail, refusal.hint],
    [
      "control_error",
      "usage",
      'Cannot send to "x:y": there is no platform "x"',
      "hermes send local:y",
    ],
  );
  const crash = await callControl(path, "crash").catch((error) => error);
  assert.ok(crash instanceof ControlRefusal);
  assert.deepEqual([crash.reason, crash.hint], ["failed", undefined]);
});

Deno.test("callControl() without a listening gateway fails as control_unavailable", async () => {
  await using dir = tempDir();
  await assert.rejects(
    callControl(`${dir.path}/gateway.sock`, "status", {}, { timeoutMs: 500 }),
    (error) => error instanceof HermesError && error.code === "control_unavailable",
  );
});

Deno.test("a socket path too long for Unix sockets disables the socket instead of failing", async () => {
  await using dir = tempDir();
  const long = `${dir.path}/${"d".repeat(120)}/gateway.sock`;
  const lines: string[] = [];
  const log = new Logger({
    level: "warn",
    sinks: [{ format: "json", write: (line) => lines.push(line) }],
    masker: new SecretMasker(),
  });
  assert.equal(await serveControl(long, {}, log), undefined);
  assert.match(lines.join(""), /too long for a Unix socket/);
});

/** Opens a connection and checks the server serves it (so it counts as open). */
async function openServed(path: string): Promise<Deno.UnixConn> {
  const conn = await Deno.connect({ transport: "unix", path });
  await conn.write(new TextEncoder().encode('{"id":1,"method":"ping"}\n'));
  assert.deepEqual(JSON.parse(await readLine(conn)), { id: 1, ok: true, result: "pong" });
  return conn;
}

async function readLine(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  while (!text.includes("\n")) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

/** Resolves once the server has closed `conn` (end of stream or a reset). */
async function closedByServer(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(4096);
  try {
    while ((await conn.read(buffer)) !== null) {
      // drain
    }
  } catch {
    // a reset is a close too
  }
}

Deno.test("connection 65 is refused with a busy line while 64 are open", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.sock`;
  assert.equal(MAX_CONNECTIONS, 64);
  await using _server = await serveControl(path, { ping: () => "pong" }, quiet());
  const open: Deno.UnixConn[] = [];
  try {
    for (let i = 0; i < MAX_CONNECTIONS; i++) open.push(await openServed(path));
    const extra = await Deno.connect({ transport: "unix", path });
    const line = JSON.parse(await readLine(extra));
    assert.deepEqual([line.id, line.ok, line.error.code], [null, false, "busy"]);
    assert.match(line.error.message, /Too many control connections \(64 open\)/);
    await closedByServer(extra);
    extra.close();
    const refusal = await callControl(path, "ping").catch((error) => error);
    assert.ok(refusal instanceof ControlRefusal);
    assert.equal(refusal.reason, "busy");

    open.pop()!.close();
    // The server frees the slot once it has seen the close; the next call may race it.
    let answer: unknown;
    for (let attempt = 0; attempt < 1000 && answer !== "pong"; attempt++) {
      answer = await callControl(path, "ping").catch((error) => error);
    }
    assert.equal(answer, "pong", "a slot freed by a closed connection is served again");
  } finally {
    for (const conn of open) conn.close();
  }
});

Deno.test("a connection that sends nothing is closed after the idle timeout", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.sock`;
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  const methods = { ping: () => "pong", slow: () => released.then(() => "done") };
  await using _server = await serveControl(path, methods, quiet(), { idleTimeoutMs: 50 });

  // A connection waiting for a slow answer is not idle: it outlives an idle one.
  const waiting = await Deno.connect({ transport: "unix", path });
  await waiting.write(new TextEncoder().encode('{"id":2,"method":"slow"}\n'));
  const silent = await Deno.connect({ transport: "unix", path });
  await closedByServer(silent);
  silent.close();
  release();
  assert.deepEqual(JSON.parse(await readLine(waiting)), { id: 2, ok: true, result: "done" });
  // ... and once answered, it is idle again and closed in turn.
  await closedByServer(waiting);
  waiting.close();
  assert.equal(await callControl(path, "ping"), "pong");
});

Deno.test("the socket is 0600 and listening from the moment it appears", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.sock`;
  const worker = new Worker(new URL("./_socket_watcher.ts", import.meta.url), { type: "module" });
  try {
    const messages: Array<Record<string, unknown>> = [];
    let wake = () => {};
    worker.onmessage = (event) => {
      messages.push(event.data);
      wake();
    };
    const next = async () => {
      while (messages.length === 0) await new Promise<void>((resolve) => wake = resolve);
      return messages.shift()!;
    };
    for (let round = 0; round < 40; round++) {
      worker.postMessage({ path });
      assert.equal((await next()).type, "watching");
      const server = await serveControl(path, { ping: () => "pong" }, quiet());
      assert.ok(server);
      const seen = await next();
      await server.close();
      assert.deepEqual(
        seen,
        { type: "seen", mode: 0o600, socket: true, connected: true },
        `round ${round}`,
      );
    }
    assert.deepEqual(
      [...Deno.readDirSync(dir.path)].map((e) => e.name),
      [],
      "no staging folder is left behind",
    );
  } finally {
    worker.terminate();
  }
});

Deno.test("staging folders a gateway killed while binding left behind are removed at the next start", async () => {
  await using dir = tempDir();
  const path = `${dir.path}/gateway.sock`;
  await Deno.mkdir(`${dir.path}/.c0a1b2c/s`, { recursive: true });
  await Deno.mkdir(`${dir.path}/.config`); // not a staging folder: kept
  await using server = await serveControl(path, { status: () => ({}) }, quiet());
  assert.ok(server);
  const names = [...Deno.readDirSync(dir.path)].map((e) => e.name).sort();
  assert.deepEqual(names, [".config", "gateway.sock"]);
});
