/**
 * Which IP addresses a download may not reach: loopback, private,
 * link-local (the cloud metadata service at 169.254.169.254 among them),
 * carrier-grade NAT, unique-local, multicast and unspecified ones.
 *
 * @module
 */

/** The 4 bytes of a dotted IPv4 address, or undefined. */
function ipv4(address: string): number[] | undefined {
  const parts = address.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return bytes.every((b) => b >= 0 && b <= 255) ? bytes : undefined;
}

/** The 16 bytes of an IPv6 address (brackets allowed), or undefined. */
function ipv6(address: string): number[] | undefined {
  const text = address.replace(/^\[|\]$/g, "").split("%")[0]!;
  if (!text.includes(":")) return undefined;
  let tail: number[] = [];
  let body = text;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4(dotted[1]!);
    if (!v4) return undefined;
    tail = v4;
    body = text.slice(0, -dotted[1]!.length) + "0:0";
  }
  const [head, rest] = body.split("::");
  if (body.split("::").length > 2) return undefined;
  const words = (s: string | undefined) => (s ? s.split(":").filter((w) => w !== "") : []);
  const left = words(head);
  const right = words(rest);
  const fill = rest === undefined ? 0 : 8 - left.length - right.length;
  const all = [...left, ...Array(Math.max(0, fill)).fill("0"), ...right];
  if (all.length !== 8 || !all.every((w) => /^[0-9a-f]{1,4}$/i.test(w))) return undefined;
  const bytes = all.flatMap((w) => [parseInt(w, 16) >> 8, parseInt(w, 16) & 0xff]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** Whether `address` is an IP literal (v4 or v6). */
export function isIpLiteral(address: string): boolean {
  return ipv4(address) !== undefined || ipv6(address) !== undefined;
}

/**
 * Why `address` may not be fetched, or undefined when it is a public
 * address.
 *
 * @example
 * ```ts
 * blockedReason("169.254.169.254"); // "link-local (cloud metadata)"
 * blockedReason("93.184.216.34");   // undefined
 * ```
 */
export function blockedReason(address: string): string | undefined {
  const v4 = ipv4(address);
  if (v4) return blockedV4(v4);
  const v6 = ipv6(address);
  if (!v6) return "not an IP address";
  if (v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff) {
    return blockedV4(v6.slice(12)); // ::ffff:a.b.c.d
  }
  // Addresses that carry an IPv4 one: NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::).
  if (
    [0x00, 0x64, 0xff, 0x9b].every((b, i) => v6[i] === b) && v6.slice(4, 12).every((b) => b === 0)
  ) {
    const why = blockedV4(v6.slice(12));
    if (why) return `${why}, through NAT64`;
  }
  if (v6[0] === 0x20 && v6[1] === 0x02) {
    const why = blockedV4(v6.slice(2, 6));
    if (why) return `${why}, through 6to4`;
  }
  if (v6.every((b, i) => (i < 15 ? b === 0 : b <= 1))) return v6[15] ? "loopback" : "unspecified";
  if (v6[0] === 0xfe && (v6[1]! & 0xc0) === 0x80) return "link-local";
  if ((v6[0]! & 0xfe) === 0xfc) return "unique local (private)";
  if (v6[0] === 0xff) return "multicast";
  return undefined;
}

function blockedV4([a, b]: number[]): string | undefined {
  if (a === 127) return "loopback";
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return "private";
  if (a === 169 && b === 254) return "link-local (cloud metadata)";
  if (a === 100 && b! >= 64 && b! <= 127) return "carrier-grade NAT (private)";
  if (a === 198 && (b === 18 || b === 19)) return "benchmarking (private)";
  if (a === 0) return "unspecified";
  if (a! >= 224) return "multicast or reserved";
  return undefined;
}
