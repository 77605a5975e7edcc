// Header rules of the pass-through, applied to raw header lists ([name, value, name, value, ...]
// as Node gives them) so order, case and repeated headers survive untouched.
//
// Dropped in both directions: hop-by-hop headers (RFC 9110 §7.6.1) and any header the message's
// own `Connection` header names. Dropped towards the gateway: the caller's Authorization (it
// carries the user's Clawkeep token), Host (rewritten for the gateway), Expect (Node answers
// 100-continue itself), and on a WebSocket the handshake's own Sec-WebSocket-* headers, which the
// upstream client makes afresh. Dropped towards the client: any header whose value contains the
// gateway credential, so a gateway that echoes it cannot hand it to the browser; and the headers
// by which a page could reach beyond its gateway's path on Clawkeep's origin, which it shares
// with the dashboard: Service-Worker-Allowed (a service worker scoped to `/` would see every
// dashboard request and its token) and Clear-Site-Data (it would sign the dashboard out).

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

function connectionNamed(raw: readonly string[]): Set<string> | null {
  let named: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === "connection") {
      for (const t of raw[i + 1]!.split(",")) {
        const n = t.trim().toLowerCase();
        if (n) (named ??= new Set()).add(n);
      }
    }
  }
  return named;
}

export interface RequestHeaderOptions {
  /** Lower-case header name that carries the gateway credential (e.g. "authorization"). */
  credentialHeader: string;
  /** Its full value (e.g. "Bearer <token>"), or null when the agent has no credential secret. */
  credentialValue: string | null;
  /** Upstream host[:port] for the Host header. */
  host: string;
  websocket?: boolean;
  /** Keep `Transfer-Encoding: chunked` for a client that frames the body itself (node:http); undici frames on its own. */
  framing?: boolean;
}

/** Headers for the gateway: the client's, minus the ones above, plus Host and the credential. */
export function requestHeaders(raw: readonly string[], o: RequestHeaderOptions): string[] {
  const named = connectionNamed(raw);
  const out: string[] = ["Host", o.host];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    // A chunked body stays chunked on the next hop: the header is hop-by-hop, but without it
    // Node would send a DELETE's or OPTIONS's streamed body with no framing at all.
    if (lower === "transfer-encoding" && o.framing !== false && !o.websocket && /^\s*chunked\s*$/i.test(raw[i + 1]!)) {
      out.push("Transfer-Encoding", "chunked");
      continue;
    }
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    if (lower === "authorization" || lower === "host" || lower === "expect" || lower === o.credentialHeader) continue;
    // Clawkeep's own request headers (the credential password, say) are for Clawkeep only.
    if (lower.startsWith("x-clawkeep-")) continue;
    if (o.websocket && lower.startsWith("sec-websocket-")) continue;
    out.push(name, raw[i + 1]!);
  }
  if (o.credentialValue !== null) out.push(o.credentialHeader, o.credentialValue);
  return out;
}

const ORIGIN_WIDE = new Set(["service-worker-allowed", "clear-site-data"]);

/** Headers for the client: the gateway's, minus hop-by-hop, origin-wide ones and anything carrying the credential. */
export function responseHeaders(raw: readonly string[], secret: string | null, websocket = false): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower) || ORIGIN_WIDE.has(lower)) continue;
    if (websocket && lower.startsWith("sec-websocket-")) continue;
    const value = raw[i + 1]!;
    if (secret !== null && value.includes(secret)) continue;
    out.push(name, value);
  }
  return out;
}

// WebSocket clients in a browser cannot set headers, so the Clawkeep token may travel as one
// entry of Sec-WebSocket-Protocol: `base64url.bearer.clawkeep.<base64url of the token>`
// (docs/formats.md §18). That entry and the `clawkeep.v1` marker are removed before the list
// is offered to the gateway.
export const WS_TOKEN_PREFIX = "base64url.bearer.clawkeep.";
export const WS_MARKER = "clawkeep.v1";

export function splitProtocols(header: string | undefined): { token: string | undefined; marker: boolean; rest: string[] } {
  let token: string | undefined;
  let marker = false;
  const rest: string[] = [];
  if (!header) return { token, marker, rest };
  for (const p of header.split(",")) {
    const v = p.trim();
    if (!v) continue;
    if (v.startsWith(WS_TOKEN_PREFIX)) {
      const decoded = Buffer.from(v.slice(WS_TOKEN_PREFIX.length), "base64url").toString("utf8");
      if (token === undefined) token = decoded;
    } else if (v === WS_MARKER) marker = true;
    else rest.push(v);
  }
  return { token, marker, rest };
}
