import type { Registry } from "prom-client";
import { createProxyEvents, type ProxyLogger } from "./events.js";
import { createHttpForwarder } from "./http.js";
import type { ProxyService } from "./service.js";
import { createWsRelay } from "./ws.js";

export { createProxyService, type ProxyService, type ProxySettings } from "./service.js";
export { checkGatewayUrl, isRefusedAddress } from "./address.js";
export { sendProxyError } from "./http.js";

/** The transports of the pass-through, bound to a server's logger and metrics registry. */
export function createProxyTransports(svc: ProxyService, log: ProxyLogger, registry?: Registry) {
  const events = createProxyEvents(log, registry);
  const http = createHttpForwarder(svc, events);
  const ws = createWsRelay(svc, events);
  return { http, ws, events };
}

export type ProxyTransports = ReturnType<typeof createProxyTransports>;
