import { describe, expect, it } from "vitest";
import { ClawkeepError } from "../../src/errors.js";
import { createProxyService, type ProxySettings } from "../../src/proxy/service.js";

// The proxy's per-node caches: requests that miss together share one lookup, a failure is never
// shared or cached, and a revocation (forget) wins over a lookup that was already under way.

const settings: ProxySettings = {
  allowLinkLocal: false,
  credentialSecret: "GATEWAY_AUTH_TOKEN",
  credentialHeader: "authorization",
  credentialScheme: "Bearer",
  credentialCacheSeconds: 60,
  authCacheMs: 60_000,
  connectTimeoutMs: 1000,
  responseTimeoutMs: 1000,
  idleTimeoutSeconds: 10,
  maxConnectionsPerUser: 1000,
  healthTimeoutMs: 1000,
  healthPath: "/health",
  wsHighWaterBytes: 1 << 20,
  wsMaxPayloadBytes: 1 << 20,
};

const tick = () => new Promise((r) => setTimeout(r, 5));

function harness(over: Partial<ProxySettings> = {}) {
  const calls = { auth: 0, agent: 0, secret: 0 };
  let gate: Promise<void> = Promise.resolve();
  let valid = true;
  const svc = createProxyService({
    settings: { ...settings, ...over },
    users: {
      async authenticate() {
        calls.auth++;
        // Decided when the check starts; the answer arrives when the gate opens.
        const ok = valid;
        await gate;
        if (!ok) throw new ClawkeepError("unauthorized", "missing or invalid bearer token");
        return { userId: "usr_a", expiresMs: null } as never;
      },
    },
    agentAccess: { authenticate: async () => Promise.reject(new Error("unused")) },
    agents: {
      async mine() {
        calls.agent++;
        await gate;
        return { id: "agt_1", name: "bot", status: "active", gateway_url: "http://127.0.0.1:9/" } as never;
      },
    } as never,
    secrets: {
      async get() {
        calls.secret++;
        await gate;
        return { value: Buffer.from("cred") };
      },
    },
  });
  return {
    svc,
    calls,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        release();
        gate = Promise.resolve();
      };
    },
    revoke() {
      valid = false;
    },
  };
}

describe("proxy service caches", () => {
  it("requests that miss together share one token check, one agent lookup and one credential read", async () => {
    const h = harness();
    const release = h.hold();
    const opening = Array.from({ length: 20 }, () => h.svc.open("ck_token", "bot", "127.0.0.1"));
    await tick();
    release();
    const targets = await Promise.all(opening);
    for (const t of targets) t.release();
    expect(h.calls).toEqual({ auth: 1, agent: 1, secret: 1 });
    expect(targets[0]!.credentialValue).toBe("Bearer cred");
  });

  it("a failed check is not shared: each waiter checks (and is audited) on its own", async () => {
    const h = harness();
    h.revoke();
    const release = h.hold();
    const opening = Array.from({ length: 5 }, () => h.svc.open("ck_bad", "bot", "127.0.0.1").then(() => "ok", (e: ClawkeepError) => e.code));
    await tick();
    release();
    expect(await Promise.all(opening)).toEqual(Array(5).fill("unauthorized"));
    expect(h.calls.auth).toBe(5);
  });

  it("a verdict is cached from when the database was read, not from when a request joined the read", async () => {
    const h = harness({ authCacheMs: 100 });
    const release = h.hold();
    const first = h.svc.open("ck_token", "bot", "127.0.0.1");
    await new Promise((r) => setTimeout(r, 150));
    // Joins the read started 150 ms ago, longer ago than the cache time.
    const joined = h.svc.open("ck_token", "bot", "127.0.0.1");
    release();
    for (const t of await Promise.all([first, joined])) t.release();
    expect(h.calls.auth).toBe(1);
    // So the next request asks the database again (a revocation elsewhere would be seen now).
    (await h.svc.open("ck_token", "bot", "127.0.0.1")).release();
    expect(h.calls.auth).toBe(2);
  });

  it("a revocation during a lookup keeps that lookup's result out of the cache", async () => {
    const h = harness();
    const release = h.hold();
    const first = h.svc.open("ck_token", "bot", "127.0.0.1");
    await tick();
    // Revoked on this node while the check above is still running.
    h.revoke();
    h.svc.forget("usr_a");
    release();
    (await first).release();
    // The next request checks again (and is refused) rather than riding the stale success.
    await expect(h.svc.open("ck_token", "bot", "127.0.0.1")).rejects.toMatchObject({ code: "unauthorized" });
    expect(h.calls.auth).toBe(2);
  });
});
