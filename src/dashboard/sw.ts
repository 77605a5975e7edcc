// The service worker behind "Open the gateway's web UI" (gateway-ui.ts). Registered with scope
// /v1/agents/, so it sees only gateway pages and their requests, never the dashboard's. It adds
// `Authorization: Bearer <token>` to requests for the one agent armed last, and only
//  - to a top-level navigation into /v1/agents/<that agent>/gateway/, or
//  - to a request made by a page that is itself under that prefix.
// A redirect is never followed with the header (a gateway answering 302 → /v1/secrets must not
// get the user's secrets back): navigations see the redirect, other requests fail. The token is
// kept in memory only; when the browser stops an idle worker it is gone, and the page says so.

interface Client {
  url: string;
}
interface ExtendableMessageEvent {
  source: Client | null;
  data: unknown;
  ports: readonly MessagePort[];
}
interface FetchEvent extends Event {
  request: Request;
  clientId: string;
  respondWith(r: Promise<Response> | Response): void;
  waitUntil(p: Promise<unknown>): void;
}
interface Scope {
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void>; get(id: string): Promise<Client | undefined> };
  addEventListener(type: string, f: (ev: never) => void): void;
  location: Location;
}
const sw = self as unknown as Scope;

let armed: { agent: string; prefix: string; token: string } | null = null;

sw.addEventListener("install", () => void sw.skipWaiting());
sw.addEventListener("activate", (ev: FetchEvent) => ev.waitUntil(sw.clients.claim()));

sw.addEventListener("message", (ev: ExtendableMessageEvent) => {
  // Only the dashboard itself (the page at /) may hand over a token; a gateway page may not.
  const from = ev.source ? new URL(ev.source.url) : null;
  if (!from || from.origin !== sw.location.origin || from.pathname !== "/") return;
  const m = ev.data as { type?: string; agent?: string; token?: string };
  if (m.type === "arm" && typeof m.agent === "string" && typeof m.token === "string") {
    armed = { agent: m.agent, prefix: `/v1/agents/${encodeURIComponent(m.agent)}/gateway/`, token: m.token };
  } else if (m.type === "forget") {
    armed = null;
  }
  ev.ports[0]?.postMessage("ok");
});

const page = (status: number, text: string) =>
  new Response(`<!doctype html><meta charset="utf-8"><title>Clawkeep</title><p>${text}</p>`, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": "default-src 'none'", "cache-control": "no-store" },
  });

sw.addEventListener("fetch", (ev: FetchEvent) => {
  const req = ev.request;
  const url = new URL(req.url);
  if (url.origin !== sw.location.origin || !/^\/v1\/agents\/[^/]+\/gateway\//.test(url.pathname)) return;
  ev.respondWith(
    (async () => {
      const a = armed;
      if (!a || !url.pathname.startsWith(a.prefix)) return page(401, "This gateway page needs a fresh start: open it again from the Clawkeep dashboard (Chat → Open the gateway's web UI).");
      if (req.mode === "navigate") {
        // Framing would let a gateway page load another agent's UI into a frame it can read.
        if (req.destination !== "document") return page(403, "Gateway pages open only as a whole tab.");
      } else {
        const client = await sw.clients.get(ev.clientId);
        if (!client || !new URL(client.url).pathname.startsWith(a.prefix)) return new Response(null, { status: 403 });
      }
      const headers = new Headers(req.headers);
      headers.set("authorization", `Bearer ${a.token}`);
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
      return fetch(url.href, { method: req.method, headers, body, mode: "same-origin", credentials: "omit", redirect: "manual", cache: "no-store", referrerPolicy: "no-referrer" });
    })(),
  );
});
