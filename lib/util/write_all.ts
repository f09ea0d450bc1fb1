/**
 * Writes every byte to a synchronous writer; `writeSync` may write fewer than asked.
 *
 * @example
 * ```ts
 * writeAllSync(Deno.stdout, new TextEncoder().encode("hello\n"));
 * ```
 */
export function writeAllSync(
  target: { writeSync(p: Uint8Array): number },
  bytes: Uint8Array,
): void {
  let written = 0;
  while (written < bytes.length) written += target.writeSync(bytes.subarray(written));
}

/**
 * Writes every byte to an asynchronous writer such as a socket; `write` may
 * write fewer than asked.
 *
 * @example
 * ```ts
 * const conn = await Deno.connect({ transport: "unix", path: "/srv/hermes/gateway.sock" });
 * await writeAll(conn, new TextEncoder().encode("{}\n"));
 * ```
 */
export async function writeAll(
  target: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await target.write(bytes.subarray(written));
}
