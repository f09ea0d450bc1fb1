/**
 * A worker for the control socket test: on each message with a path, it
 * spins on `lstat` until the file appears, records its mode at once, then
 * connects. Running on its own thread, it sees the file while the server's
 * thread is still between creating and securing it.
 *
 * @module
 */

/// <reference lib="deno.worker" />

self.onmessage = async (event: MessageEvent<{ path: string }>) => {
  const { path } = event.data;
  self.postMessage({ type: "watching" });
  // A safety net only, so that a server that never comes up fails the test instead of hanging it.
  const giveUpAt = Date.now() + 20_000;
  let info: Deno.FileInfo | undefined;
  while (!info && Date.now() < giveUpAt) {
    try {
      info = Deno.lstatSync(path);
    } catch {
      // not there yet
    }
  }
  if (!info) {
    self.postMessage({ type: "seen", mode: null, socket: false, connected: false });
    return;
  }
  let connected = false;
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    connected = true;
  } catch {
    // not listening yet
  }
  self.postMessage({
    type: "seen",
    mode: (info.mode ?? 0) & 0o777,
    socket: info.isSocket,
    connected,
  });
};
