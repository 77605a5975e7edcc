import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { requestHeaders, responseHeaders, splitProtocols, WS_TOKEN_PREFIX } from "../../src/proxy/headers.js";
import { checkGatewayUrl, isRefusedAddress } from "../../src/proxy/address.js";
import { gatewayRest, upstreamTarget } from "../../src/proxy/http.js";

// The header rules and the WebSocket token convention of docs/formats.md §18.

const vector = JSON.parse(readFileSync(new URL("../vectors/proxy/ws-protocol.json", import.meta.url), "utf8")) as { token: string; header: string; forwarded: string[]; marker: boolean };

describe("proxy headers", () => {
  it("parses the token entry of the vector and forwards only the other protocols", () => {
    const p = splitProtocols(vector.header);
    expect(p.token).toBe(vector.token);
    expect(p.rest).toEqual(vector.forwarded);
    expect(p.marker).toBe(vector.marker);
    expect(vector.header).toContain(`${WS_TOKEN_PREFIX}${Buffer.from(vector.token).toString("base64url")}`);
  });

  it("drops hop-by-hop headers, those named in Connection, the caller's Authorization; adds the credential", () => {
    const raw = ["Host", "proxy", "Authorization", "Bearer ck_x", "Connection", "close, X-A", "X-A", "1", "Keep-Alive", "5", "TE", "trailers", "Upgrade", "h2c", "Proxy-Authorization", "p", "X-B", "2", "Transfer-Encoding", "chunked", "Expect", "100-continue"];
    expect(requestHeaders(raw, { credentialHeader: "authorization", credentialValue: "Bearer gw", host: "gw:1" })).toEqual(["Host", "gw:1", "X-B", "2", "Transfer-Encoding", "chunked", "authorization", "Bearer gw"]);
    expect(requestHeaders(raw, { credentialHeader: "x-gateway-token", credentialValue: null, host: "gw" })).toEqual(["Host", "gw", "X-B", "2", "Transfer-Encoding", "chunked"]);
  });

  it("keeps the credential out of response headers", () => {
    const raw = ["Connection", "X-Drop", "X-Drop", "1", "X-Echo", "token sekrit here", "Set-Cookie", "a", "Set-Cookie", "b"];
    expect(responseHeaders(raw, "sekrit")).toEqual(["Set-Cookie", "a", "Set-Cookie", "b"]);
  });

  it("keeps a gateway's page inside its own path: no Service-Worker-Allowed, no Clear-Site-Data", () => {
    // Gateways share Clawkeep's origin with the dashboard: a worker allowed scope `/` would see
    // every dashboard request and its bearer token; Clear-Site-Data would sign the dashboard out.
    const raw = ["Content-Type", "text/javascript", "Service-Worker-Allowed", "/", "clear-site-data", '"storage"', "X-Ok", "1"];
    expect(responseHeaders(raw, null)).toEqual(["Content-Type", "text/javascript", "X-Ok", "1"]);
    expect(responseHeaders(raw, null, true)).toEqual(["Content-Type", "text/javascript", "X-Ok", "1"]);
  });

  it("refuses link-local and metadata addresses in every spelling", () => {
    for (const a of ["169.254.169.254", "169.254.0.1", "fe80::1", "FE80::abcd", "fd00:ec2::254", "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "[fd00:ec2::254]", "[::169.254.169.254]", "64:ff9b::a9fe:a9fe", "::ffff:0:a9fe:a9fe", "2002:a9fe:a9fe::", "fe80::1%eth0"]) expect(isRefusedAddress(a), a).toBe(true);
    for (const a of ["127.0.0.1", "10.0.0.1", "::1", "fd00:ec2::253", "example.com", "192.168.1.1", "::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a00:1", "2001:db8::1"]) expect(isRefusedAddress(a), a).toBe(false);
    expect(checkGatewayUrl("https://gw.example:8443/base/", false)).toEqual({ href: "https://gw.example:8443/base", origin: "https://gw.example:8443" });
    expect(() => checkGatewayUrl("http://[::ffff:169.254.169.254]:80/", false)).toThrow(/link-local/);
    expect(checkGatewayUrl("http://169.254.169.254/", true).href).toBe("http://169.254.169.254");
  });

  it("a gateway path cannot climb out of the gateway URL or change its host", () => {
    const ok = (url: string) => gatewayRest(url, "bot");
    expect(ok("/v1/agents/bot/gateway")).toBe("");
    expect(ok("/v1/agents/bot/gateway/a/b?x=/../y")).toBe("/a/b?x=/../y"); // a query value is the gateway's business
    expect(ok("/v1/agents/bot/gateway?q=1")).toBe("?q=1");
    for (const bad of ["/v1/agents/bot/gateway/../../admin", "/v1/agents/bot/gateway/%2e%2e/admin", "/v1/agents/bot/gateway/..%2f..%2fadmin", "/v1/agents/bot/gateway/..\\..\\admin", "/v1/agents/bot/gateway/..;/admin", "/v1/agents/bot/gateway/x/..#", "/v1/agents/bot/gateway/x#frag", "/v1/agents/bot/gatewayx", "/v1/agents/bot/gateway1"]) {
      expect(() => ok(bad), bad).toThrow(/gateway path/);
    }
    const u = new URL("http://10.0.0.5:8080/base/inner");
    expect(upstreamTarget(u, "/base/inner", "/a?b=1", "ws:")).toBe("ws://10.0.0.5:8080/base/inner/a?b=1");
    expect(upstreamTarget(u, "/base/inner", "", "ws:")).toBe("ws://10.0.0.5:8080/base/inner");
    expect(upstreamTarget(new URL("http://10.0.0.5"), "", "?1", "http:")).toBe("http://10.0.0.5?1"); // the host stays 10.0.0.5
    expect(new URL(upstreamTarget(new URL("http://10.0.0.5"), "", "?1", "http:")).host).toBe("10.0.0.5");
  });
});
