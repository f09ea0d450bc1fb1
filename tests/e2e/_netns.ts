/**
 * Network namespaces standing for separate hosts (Linux, as root, with
 * `ip`): each namespace is joined to this host by a veth pair on a /30 of
 * its own; taking the host's end down partitions it (packets dropped, TCP
 * hangs, nothing fails at once), as a host whose link went away.
 *
 * @module
 */

/** A namespace and its link to this host. */
export interface TestNamespace extends AsyncDisposable {
  readonly name: string;
  /** This host's address on the link (where the namespace reaches servers). */
  readonly hostIp: string;
  /** Cuts the link (the host's end goes down). */
  cut(): Promise<void>;
  /** Brings the link back. */
  heal(): Promise<void>;
}

/** Runs `ip ARGS`; throws with its stderr when it fails. */
async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/**
 * Whether namespaces can be made here (root, `ip` with netns support).
 *
 * @example
 * ```ts
 * if (await netnsAvailable()) console.log("two hosts on one machine");
 * ```
 */
export async function netnsAvailable(): Promise<boolean> {
  const name = `hermes-probe-${Deno.pid}`;
  try {
    await ip("netns", "add", name);
    await ip("netns", "del", name);
    return true;
  } catch {
    return false;
  }
}

let made = 0;

/**
 * A new namespace with loopback up and a veth link to this host.
 *
 * @example
 * ```ts
 * await using host = await createNamespace();
 * await host.cut();
 * await host.heal();
 * ```
 */
export async function createNamespace(): Promise<TestNamespace> {
  const index = made++;
  const tag = `${Deno.pid % 100_000}${index}`;
  const name = `hermes-${tag}`;
  const hostEnd = `hh${tag}`.slice(0, 15);
  const nsEnd = `hn${tag}`.slice(0, 15);
  // A /30 per namespace: 10.201.X.(4n+1) here, 10.201.X.(4n+2) there.
  const block = (Deno.pid % 250) * 64 + index;
  const third = Math.floor(block / 64) % 250;
  const fourth = (block % 64) * 4;
  const hostIp = `10.201.${third}.${fourth + 1}`;
  const nsIp = `10.201.${third}.${fourth + 2}`;
  await ip("netns", "add", name);
  try {
    await ip("link", "add", hostEnd, "type", "veth", "peer", "name", nsEnd);
    await ip("link", "set", nsEnd, "netns", name);
    await ip("addr", "add", `${hostIp}/30`, "dev", hostEnd);
    await ip("link", "set", hostEnd, "up");
    await ip("netns", "exec", name, "ip", "addr", "add", `${nsIp}/30`, "dev", nsEnd);
    await ip("netns", "exec", name, "ip", "link", "set", nsEnd, "up");
    await ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
  } catch (error) {
    await ip("netns", "del", name).catch(() => {});
    throw error;
  }
  return {
    name,
    hostIp,
    cut: () => ip("link", "set", hostEnd, "down"),
    heal: () => ip("link", "set", hostEnd, "up"),
    async [Symbol.asyncDispose]() {
      // Deleting the namespace removes its end of the pair, and with it this one.
      await ip("netns", "del", name).catch(() => {});
      await ip("link", "del", hostEnd).catch(() => {});
    },
  };
}
