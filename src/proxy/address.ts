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

/** True for an address the proxy must never connect to (IPv4-mapped IPv6 included). */
export function isRefusedAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, "").toLowerCase();
  const family = isIP(a);
  if (family === 4) return REFUSED.check(a, "ipv4");
  if (family !== 6) return false;
  const mapped = /^(?:0{0,4}:){0,5}(?::|0{0,4}:)?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return REFUSED.check(mapped[1]!, "ipv4");
  const mappedHex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (mappedHex) {
    const hi = parseInt(mappedHex[1]!, 16);
    const lo = parseInt(mappedHex[2]!, 16);
    return REFUSED.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, "ipv4");
  }
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
