import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { Agent as UndiciAgent } from "undici";
import { ClawkeepError } from "../errors.js";
import type { AgentRegistry } from "../agents/registry.js";
import type { AgentAccess } from "../agents/handshake.js";
import type { UserService } from "../users/users.js";
import { checkGatewayUrl, guardedLookup } from "./address.js";

// Who may reach which gateway, with which credential. A caller passes with a user token of the
// agent's owner, or an agent token of that very agent; anyone else meets the same not_found as
// a missing agent, whatever the transport. The credential is the agent's ordinary secret
// (default GATEWAY_AUTH_TOKEN), read through the vault (so each read is audited) and kept in
// memory for a short while so the hot path does not decrypt on every request.

export interface ProxySettings {
  allowLinkLocal: boolean;
  credentialSecret: string;
  /** Lower-case header name. */
  credentialHeader: string;
  /** Prefix before the credential ("Bearer"), or "" for the bare value. */
  credentialScheme: string;
  credentialCacheSeconds: number;
  /** How long a caller's successful authentication is reused on this node; 0 checks every request. */
  authCacheMs: number;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  idleTimeoutSeconds: number;
  maxConnectionsPerUser: number;
  healthTimeoutMs: number;
  healthPath: string;
  wsHighWaterBytes: number;
  wsMaxPayloadBytes: number;
}

export interface SecretReader {
  get(c: { userId: string; actor: string }, agent: string, name: string): Promise<{ value: Buffer }>;
}

export interface Target {
  userId: string;
  agentId: string;
  agentName: string;
  url: URL;
  /** The URL's path without its trailing slash. */
  basePath: string;
  /** The raw credential, only to keep it out of response headers. */
  secret: string | null;
  /** The header value sent to the gateway ("Bearer <secret>"), or null. */
  credentialValue: string | null;
  release: () => void;
}

interface Cached {
  secret: string | null;
  expires: number;
}

/**
 * One lookup per key at a time: when a cache entry expires under load, the requests that miss
 * together share one database read instead of each making its own (which showed as a latency
 * spike at every expiry). Only a success is shared; a waiter whose shared lookup failed does
 * its own, so every failure is still checked, and audited, on its own.
 */
function singleFlight<V>() {
  const pending = new Map<string, Promise<V>>();
  const run = async (key: string, load: () => Promise<V>): Promise<V> => {
    const shared = pending.get(key);
    if (shared) {
      try {
        return await shared;
      } catch {
        return load();
      }
    }
    const p = load();
    pending.set(key, p);
    try {
      return await p;
    } finally {
      if (pending.get(key) === p) pending.delete(key);
    }
  };
  return Object.assign(run, { clear: () => pending.clear() });
}

export function createProxyService(deps: {
  agents: AgentRegistry;
  users: Pick<UserService, "authenticate">;
  agentAccess: Pick<AgentAccess, "authenticate">;
  secrets: SecretReader;
  settings: ProxySettings;
}) {
  const s = deps.settings;
  const lookup = guardedLookup(s.allowLinkLocal);
  // One keep-alive pool per scheme for every gateway: a browser's many small requests reuse
  // connections instead of paying a TCP (and TLS) handshake each.
  const httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: "lifo", lookup: lookup as never });
  const httpsAgent = new https.Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: "lifo", lookup: lookup as never });
  // HTTP exchanges go through undici: pooled keep-alive connections per gateway origin, raw
  // header lists, and a dispatch API whose onData return value is the backpressure signal.
  const dispatcher = new UndiciAgent({
    keepAliveTimeout: 30_000,
    headersTimeout: s.responseTimeoutMs,
    bodyTimeout: s.idleTimeoutSeconds * 1000,
    connect: { timeout: s.connectTimeoutMs, lookup: lookup as never },
  });
  const cache = new Map<string, Cached>();
  // Bumped by forget(): a lookup started before a revocation does not refill the caches after it.
  let generation = 0;
  // Agent rows for the hot path, for at most AGENT_TTL_MS: an agent never changes owner, so this
  // can only delay (on this node, by that long) a status or gateway change; changes made here
  // drop the entry at once.
  const AGENT_TTL_MS = 1000;
  const agentLoads = singleFlight<{ row: Awaited<ReturnType<AgentRegistry["mine"]>>; at: number }>();
  const agentRows = new Map<string, { row: Awaited<ReturnType<AgentRegistry["mine"]>>; expires: number }>();
  async function agentRow(userId: string, agentName: string) {
    const key = `${userId}\0${agentName}`;
    const now = Date.now();
    const hit = agentRows.get(key);
    if (hit && hit.expires > now) return hit.row;
    const gen = generation;
    // The entry lives from when the row was read, not from when this request joined the read.
    const { row, at } = await agentLoads(key, async () => {
      const at = Date.now();
      return { row: await deps.agents.mine({ userId, actor: userId }, agentName), at };
    });
    if (agentRows.size >= 10_000) agentRows.clear();
    if (gen === generation) agentRows.set(key, { row, expires: at + AGENT_TTL_MS });
    return row;
  }
  const inFlight = new Map<string, number>();

  const credentialLoads = singleFlight<string | null>();
  async function credential(userId: string, agentId: string, agentName: string): Promise<string | null> {
    const key = `${userId}\0${agentId}`;
    const hit = cache.get(key);
    if (hit && hit.expires > Date.now()) return hit.secret;
    const gen = generation;
    return credentialLoads(key, async () => {
      const at = Date.now();
      let secret: string | null = null;
      try {
        const v = await deps.secrets.get({ userId, actor: "proxy" }, agentName, s.credentialSecret);
        secret = v.value.toString("utf8");
        v.value.fill(0);
      } catch (e) {
        if (!(e instanceof ClawkeepError && e.code === "not_found")) throw e;
      }
      if (s.credentialCacheSeconds > 0 && gen === generation) {
        if (cache.size >= 10_000) cache.clear();
        cache.set(key, { secret, expires: at + s.credentialCacheSeconds * 1000 });
      }
      return secret;
    });
  }

  // Successful authentications, for at most authCacheMs and never past the token's own expiry:
  // checking a token costs a database round trip that a pipe should not pay on every request.
  // Keyed by the token's SHA-256, so the map never holds a token. A revocation, a disabled agent
  // or an erasure on this node empties it at once (forget); one made on another node is seen
  // within authCacheMs. Failures are never cached: each one is checked and audited.
  const forgetListeners: ((userId: string) => void)[] = [];
  const authCache = new Map<string, { who: { userId: string; agentId: string | null; agentName: string | null }; expires: number }>();

  const authLoads = singleFlight<{ who: { userId: string; agentId: string | null; agentName: string | null }; until: number; at: number }>();
  async function authenticate(bearer: string | undefined, ip: string): Promise<{ userId: string; agentId: string | null; agentName: string | null }> {
    const key = bearer && s.authCacheMs > 0 ? createHash("sha256").update(bearer).digest("base64") : null;
    const now = Date.now();
    if (key) {
      const hit = authCache.get(key);
      if (hit && hit.expires > now) return hit.who;
    }
    // `at`: when the database was asked. A request that joins a check already under way caches
    // its verdict from then, so a revocation on another node is never seen later than
    // authCacheMs after the read that missed it.
    const check = async () => {
      const at = Date.now();
      if (bearer?.startsWith("ckat1.")) {
        const claims = await deps.agentAccess.authenticate(bearer, ip);
        return { who: { userId: claims.usr, agentId: claims.agt, agentName: claims.name }, until: claims.exp * 1000, at };
      }
      const p = await deps.users.authenticate(bearer, ip, { fresh: true });
      return { who: { userId: p.userId, agentId: null, agentName: null }, until: p.expiresMs ?? Infinity, at };
    };
    if (!key) return (await check()).who;
    const gen = generation;
    const { who, until, at } = await authLoads(key, check);
    if (authCache.size >= 10_000) authCache.clear();
    // A lookup that began before a revocation on this node must not refill the cache after it.
    if (gen === generation) authCache.set(key, { who, expires: Math.min(at + s.authCacheMs, until) });
    return who;
  }

  async function caller(bearer: string | undefined, ip: string, agentName: string): Promise<{ userId: string; agentId: string | null }> {
    const who = await authenticate(bearer, ip);
    // An agent token reaches only its own agent's gateway.
    if (who.agentName !== null && who.agentName !== agentName) throw new ClawkeepError("not_found", "no such agent");
    return { userId: who.userId, agentId: who.agentId };
  }

  // Gateway URLs parsed once, not on every proxied request. The URL objects are shared, so
  // nothing downstream may change them (nothing does: they are only read).
  const gatewayUrls = new Map<string, { url: URL; basePath: string }>();
  function parsedGateway(href: string) {
    let p = gatewayUrls.get(href);
    if (!p) {
      const url = new URL(href);
      p = { url, basePath: url.pathname.replace(/\/+$/, "") };
      if (gatewayUrls.size >= 10_000) gatewayUrls.clear();
      gatewayUrls.set(href, p);
    }
    return p;
  }

  /** Authenticates, finds the agent and its gateway, takes a connection slot. */
  async function open(bearer: string | undefined, agentName: string, ip: string): Promise<Target> {
    const who = await caller(bearer, ip, agentName);
    const row = await agentRow(who.userId, agentName);
    if (who.agentId !== null && row.id !== who.agentId) throw new ClawkeepError("not_found", "no such agent");
    if (row.status !== "active") throw new ClawkeepError("agent_disabled", "the agent is disabled");
    if (!row.gateway_url) throw new ClawkeepError("gateway_not_set", "the agent has no gateway URL (clawkeep agent set-gateway)");
    const secret = await credential(who.userId, row.id, row.name);
    const n = inFlight.get(who.userId) ?? 0;
    if (n >= s.maxConnectionsPerUser) throw new ClawkeepError("too_many_connections", "too many open gateway connections for this user");
    inFlight.set(who.userId, n + 1);
    let released = false;
    const { url, basePath } = parsedGateway(row.gateway_url);
    return {
      userId: who.userId,
      agentId: row.id,
      agentName: row.name,
      url,
      basePath,
      secret,
      credentialValue: secret === null ? null : s.credentialScheme ? `${s.credentialScheme} ${secret}` : secret,
      release() {
        if (released) return;
        released = true;
        const m = (inFlight.get(who.userId) ?? 1) - 1;
        if (m <= 0) inFlight.delete(who.userId);
        else inFlight.set(who.userId, m);
      },
    };
  }

  async function setGateway(c: { userId: string; actor: string }, agentName: string, url: string | null) {
    const checked = url === null ? null : checkGatewayUrl(url, s.allowLinkLocal);
    const row = await deps.agents.setGateway(c, agentName, checked?.href ?? null, checked?.origin ?? null);
    // A row read under way (from before the change) must not be used or cached after it.
    generation++;
    agentLoads.clear();
    agentRows.delete(`${c.userId}\0${agentName}`);
    return gatewayView(row);
  }

  const gatewayView = (row: { id: string; name: string; gateway_url: string | null }) => ({
    agent_id: row.id,
    name: row.name,
    gateway_url: row.gateway_url,
    credential_secret: s.credentialSecret,
    credential_header: s.credentialHeader,
  });

  async function getGateway(c: { userId: string; actor: string }, agentName: string) {
    return gatewayView(await deps.agents.mine(c, agentName));
  }

  return {
    settings: s,
    lookup,
    dispatcher,
    agentFor: (u: URL) => (u.protocol === "https:" ? httpsAgent : httpAgent),
    open,
    setGateway,
    getGateway,
    inFlight: (userId: string) => inFlight.get(userId) ?? 0,
    /**
     * Drops every cached authentication, agent row and credential, and tells the transports
     * (which close the user's open WebSockets): called on each revocation, disable and erasure
     * on this node.
     */
    forget(userId: string) {
      generation++;
      authLoads.clear();
      agentLoads.clear();
      credentialLoads.clear();
      authCache.clear();
      agentRows.clear();
      cache.clear();
      for (const f of forgetListeners) f(userId);
    },
    onForget(f: (userId: string) => void) {
      forgetListeners.push(f);
    },
    close() {
      void dispatcher.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
      cache.clear();
      authCache.clear();
    },
  };
}

export type ProxyService = ReturnType<typeof createProxyService>;
