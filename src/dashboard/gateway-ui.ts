import { enc } from "./api.js";
import * as session from "./session.js";

// Opening an agent gateway's own web UI through the pass-through. A browser navigation cannot
// carry an Authorization header and the token must never be in a URL or a cookie, so a service
// worker (sw.ts, scope /v1/agents/ only: it never sees the dashboard's own requests) adds the
// header to that one agent's gateway requests. It receives the token from this page by
// postMessage, keeps it only in memory, and forgets it on logout.

interface TrustedTypePolicyFactory {
  createPolicy(name: string, rules: { createScriptURL(s: string): string }): { createScriptURL(s: string): unknown };
}
let policy: { createScriptURL(s: string): unknown } | undefined;
const swUrl = (): string => {
  // The CSP requires Trusted Types; this policy admits exactly one script URL.
  const tt = (globalThis as { trustedTypes?: TrustedTypePolicyFactory }).trustedTypes;
  if (!tt) return "/sw.js";
  policy ??= tt.createPolicy("clawkeep", {
    createScriptURL: (s) => {
      if (s !== "/sw.js") throw new TypeError("only /sw.js");
      return s;
    },
  });
  return policy.createScriptURL("/sw.js") as string;
};

async function worker(): Promise<ServiceWorker> {
  if (!("serviceWorker" in navigator)) throw new Error("This browser has no service workers, so it cannot open the gateway UI without putting the token in a link.");
  const reg = await navigator.serviceWorker.register(swUrl(), { scope: "/v1/agents/" });
  const sw = reg.active ?? reg.waiting ?? reg.installing;
  if (!sw) throw new Error("the service worker did not start");
  if (sw.state !== "activated") await new Promise<void>((r) => sw.addEventListener("statechange", () => sw.state === "activated" && r()));
  return sw;
}

const tell = (sw: ServiceWorker, msg: unknown) =>
  new Promise<void>((resolve, reject) => {
    const ch = new MessageChannel();
    const t = window.setTimeout(() => reject(new Error("the service worker did not answer")), 5000);
    ch.port1.onmessage = () => (window.clearTimeout(t), resolve());
    sw.postMessage(msg, [ch.port2]);
  });

export async function openGatewayUi(agent: string) {
  const t = session.token();
  if (!t) throw new Error("not signed in");
  await tell(await worker(), { type: "arm", agent, token: t });
  // noopener matters beyond the opener handle: a window opened with an opener starts with a copy
  // of this tab's sessionStorage (the token), which a same-origin gateway page could read.
  window.open(`/v1/agents/${enc(agent)}/gateway/`, "_blank", "noopener,noreferrer");
}

/** Logout: the worker drops every token it holds. */
export async function forgetGatewayUi() {
  const reg = await navigator.serviceWorker?.getRegistration("/v1/agents/").catch(() => undefined);
  const sw = reg?.active;
  if (sw) await tell(sw, { type: "forget" }).catch(() => undefined);
}
