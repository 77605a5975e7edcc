import { BlockList, isIP } from "node:net";
import dns from "node:dns";
import { ClawkeepError } from "../errors.js";

// Where a gateway may live. Loopback and private networks are normal homes for an agent's
// gateway, so they are allowed; link-local ranges are not, because that is where cloud metadata
// services answer (169.254.169.254, fd00:ec2::254) and a proxy that reaches them hands the host's
// own credentials to whoever registers such a URL. The check runs twice: on the URL when it is
// registered, and on every address DNS returns when a connection is made (a name that resolved
// harmlessly at registration can later resolve to a metadata address).

const REFUSED = new BlockList();
REFUSED.addSubnet("169.254.0.0", 16, "ipv4");
REFUSED.addSubnet("fe80::", 10, "ipv6");
REFUSED.addAddress("fd00:ec2::254", "ipv6");

/** The eight 16-bit groups of an IPv6 address (dotted IPv4 tail allowed), or null. */
function ipv6Groups(a: string): number[] | null {
  let s = a.split("%", 1)[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const [b0, b1, b2, b3] = dotted.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, dotted.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const groups = halves.length === 2 ? [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail] : head;
  return groups.length === 8 ? groups.map((g) => parseInt(g, 16)) : null;
}

/**
 * The IPv4 address an IPv6 one carries, in the forms that can route to it: IPv4-compatible
 * (::/96), IPv4-mapped (::ffff:0:0/96), SIIT (::ffff:0:0:0/96), NAT64 (64:ff9b::/96) and 6to4
 * (2002::/16). A metadata address wrapped in any of them is still the metadata address.
 */
function embeddedIpv4(g: number[]): string | null {
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && (g[5] === 0 || g[5] === 0xffff)) return v4(g[6]!, g[7]!);
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return v4(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return v4(g[6]!, g[7]!);
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!);
  return null;
}

/** True for an address the proxy must never connect to (IPv4 wrapped in IPv6 included). */
export function isRefusedAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, "").toLowerCase();
  const family = isIP(a);
  if (family === 4) return REFUSED.check(a, "ipv4");
  if (family !== 6) return false;
  const g = ipv6Groups(a);
  const v4 = g && embeddedIpv4(g);
  if (v4 && REFUSED.check(v4, "ipv4")) return true;
  return REFUSED.check(a, "ipv6");
}

export interface GatewayUrl {
  /** Normalised URL, no trailing slash on the path. */
  href: string;
  /** scheme://host:port, safe to record (the path is left out of audit events). */
  origin: string;
}

/**
 * Validates a gateway URL: http(s) only, no credentials, query or fragment (a gateway's
 * credential belongs in the vault, not in a URL that is shown and audited), and no literal
 * link-local or metadata address unless `allowLinkLocal`.
 */
export function checkGatewayUrl(input: string, allowLinkLocal: boolean): GatewayUrl {
  const bad = (why: string): never => {
    throw new ClawkeepError("invalid_gateway_url", `gateway URL ${why}`);
  };
  if (typeof input !== "string" || input.length === 0 || input.length > 2048) bad("must be a string of 1-2048 characters");
  let u: URL;
  try {
    u = new URL(input);
  } catch {
    return bad("is not a valid URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") bad("must start with http:// or https://");
  if (u.username || u.password) bad("must not contain credentials (store the gateway token as the agent's secret)");
  if (u.search || u.hash || input.includes("?") || input.includes("#")) bad("must not have a query string or fragment");
  if (!u.hostname) bad("has no host");
  if (!allowLinkLocal && isRefusedAddress(u.hostname)) bad("points at a link-local or metadata address");
  const path = u.pathname.replace(/\/+$/, "");
  return { href: `${u.protocol}//${u.host}${path}`, origin: `${u.protocol}//${u.host}` };
}

type LookupCb = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

export class RefusedAddressError extends Error {
  readonly code = "ECLAWKEEP_REFUSED_ADDRESS";
  constructor() {
    super("the gateway resolved to a refused address");
  }
}

/** A `lookup` for sockets that fails when any resolved address is refused (DNS rebinding). */
export function guardedLookup(allowLinkLocal: boolean, resolve: typeof dns.lookup = dns.lookup) {
  return (hostname: string, options: dns.LookupOptions, cb: LookupCb): void => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return cb(err, "");
      const list = addresses as unknown as dns.LookupAddress[];
      if (!allowLinkLocal && list.some((a) => isRefusedAddress(a.address))) return cb(new RefusedAddressError(), "");
      if (options.all) return cb(null, list);
      const first = list[0];
      if (!first) return cb(Object.assign(new Error("no address"), { code: "ENOTFOUND" }), "");
      cb(null, first.address, first.family);
    });
  };
}

// A host name's literal-address verdict never changes; BlockList.check allocates, and this
// runs on every proxied request.
const verdicts = new Map<string, boolean>();

/** Literal IP hosts never reach `lookup`, so they are checked before connecting. */
export function assertHostAllowed(hostname: string, allowLinkLocal: boolean): void {
  if (allowLinkLocal) return;
  let refused = verdicts.get(hostname);
  if (refused === undefined) {
    refused = isRefusedAddress(hostname);
    if (verdicts.size > 10_000) verdicts.clear();
    verdicts.set(hostname, refused);
  }
  if (refused) throw new RefusedAddressError();
}
