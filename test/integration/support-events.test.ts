import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { buildHandshake } from "../../src/agents/signing.js";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// POST /v1/agent/support/events: the agent's support-session records become the user's audit
// events. A batch is all or nothing; another agent's or user's grant is refused like one that
// does not exist; a replay counts once; bad input changes nothing; the command text reaches the
// user's audit log and never the server's own log.

describe.each(BACKENDS)("support-session events ($name)", (backend) => {
  let env: TestEnv;
  let alice: string;
  let bob: string;
  const agents: Record<string, { agent_id: string; agent_secret: string; token: string; grant: string }> = {};
  const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
  const CANARY = "echo canary-7f3a9 > /dev/null";

  const hex = (s: string) => Buffer.from(s, "utf8").toString("hex");
  const rid = () => randomBytes(16).toString("hex");
  const now = () => Math.floor(Date.now() / 1000);
  const cmd = (grant: string, command: string, id = rid()) => ({ v: 1, id, grant, kind: "command", time: now(), cmd: hex(command), trunc: false, tty: false, from: "203.0.113.7" });
  const end = (grant: string, ref: string, status: number) => ({ v: 1, id: rid(), grant, kind: "session_end", time: now(), ref, status });
  const send = (agent: string, body: unknown) =>
    env.app.inject({ method: "POST", url: "/v1/agent/support/events", headers: { ...bearer(agents[agent]!.token), "content-type": "application/json" }, payload: typeof body === "string" ? body : JSON.stringify(body) });
  const head = async () => (await env.rt.audit.list({ limit: 100_000 })).length;
  const code = (r: { json: () => unknown }) => (r.json() as { error: { code: string } }).error.code;

  async function agent(owner: string, name: string) {
    const a = (await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(owner), payload: { name } })).json() as { agent_id: string; agent_secret: string };
    const hs = await env.app.inject({ method: "POST", url: "/v1/agents/handshake", headers: { "content-type": "application/json" }, payload: buildHandshake(a.agent_id, a.agent_secret) });
    const g = await env.app.inject({ method: "POST", url: `/v1/agents/${name}/support-access`, headers: bearer(owner), payload: { public_key: KEY } });
    agents[name] = { ...a, token: (hs.json() as { agent_token: string }).agent_token, grant: (g.json() as { id: string }).id };
  }

  beforeAll(async () => {
    env = await startTestEnv({}, undefined, backend);
    alice = await createUser(env, "alice");
    bob = await createUser(env, "bob");
    await agent(alice, "a1");
    await agent(alice, "a2");
    await agent(bob, "b1");
  });
  afterAll(async () => {
    await env.close();
  });

  it("a batch becomes the user's audit events, in order, attributed to the grant; the same batch again counts once", async () => {
    const c = cmd(agents.a1!.grant, CANARY);
    const batch = { v: 1, records: [c, end(agents.a1!.grant, c.id, 0)] };
    const r = await send("a1", batch);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual({ accepted: batch.records.map((x) => x.id), duplicates: [] });
    const n = await head();
    expect((await send("a1", batch)).json()).toEqual({ accepted: [], duplicates: batch.records.map((x) => x.id) });
    expect(await head()).toBe(n);
    const evs = ((await env.app.inject({ method: "GET", url: "/v1/audit?limit=1000", headers: bearer(alice) })).json() as { events: { action: string; actor: string; metadata: Record<string, unknown> }[] }).events;
    const mine = evs.filter((e) => e.metadata.grant_id === agents.a1!.grant && e.action !== "SupportAccessGranted");
    expect(mine.map((e) => [e.action, e.actor, e.metadata.command ?? e.metadata.status])).toEqual([
      ["SupportCommand", `support:${agents.a1!.grant}`, CANARY],
      ["SupportSessionEnded", `support:${agents.a1!.grant}`, 0],
    ]);
    // The user's own view, and nobody else's.
    const log = await env.app.inject({ method: "GET", url: "/v1/agents/a1/support/events", headers: bearer(alice) });
    expect((log.json() as { events: { command?: string; from?: string }[] }).events[0]).toMatchObject({ command: CANARY, from: "203.0.113.7" });
    expect((await env.app.inject({ method: "GET", url: "/v1/agents/a1/support/events", headers: bearer(bob) })).statusCode).toBe(404);
    expect((await env.app.inject({ method: "GET", url: "/v1/agents/a1/support/events?grant=nope", headers: bearer(alice) })).statusCode).toBe(400);
    expect(env.logs()).not.toContain("canary-7f3a9");
  });

  it("another agent's grant (same user or another user) is refused like an unknown one, and nothing is written", async () => {
    const n = await head();
    for (const [who, grant] of [["a2", agents.a1!.grant], ["b1", agents.a1!.grant], ["a1", agents.b1!.grant], ["a1", "grt_00000000000000000000"]] as const) {
      const r = await send(who, { v: 1, records: [cmd(agents[who]!.grant, "ok"), cmd(grant, "not yours")] });
      expect(r.statusCode, `${who} ${grant}`).toBe(404);
      expect(code(r)).toBe("support_grant_not_found");
    }
    expect(await head()).toBe(n);
    // A user token is not an agent token, on this route.
    const u = await env.app.inject({ method: "POST", url: "/v1/agent/support/events", headers: { ...bearer(alice), "content-type": "application/json" }, payload: JSON.stringify({ v: 1, records: [cmd(agents.a1!.grant, "x")] }) });
    expect(u.statusCode).toBe(401);
  });

  it("malformed or oversized input is refused with a stable code, and changes nothing", async () => {
    const g = agents.a1!.grant;
    const n = await head();
    const cases: [string, unknown][] = [
      ["not JSON", "{"],
      ["wrong version", { v: 2, records: [cmd(g, "x")] }],
      ["no records", { v: 1, records: [] }],
      ["extra top-level field", { v: 1, records: [cmd(g, "x")], more: 1 }],
      ["unknown kind", { v: 1, records: [{ ...cmd(g, "x"), kind: "shell" }] }],
      ["extra field", { v: 1, records: [{ ...cmd(g, "x"), note: "hi" }] }],
      ["upper-case hex", { v: 1, records: [{ ...cmd(g, "x"), cmd: "AB" }] }],
      ["odd hex", { v: 1, records: [{ ...cmd(g, "x"), cmd: "abc" }] }],
      ["command over 64 KiB", { v: 1, records: [{ ...cmd(g, "x"), cmd: "61".repeat(65_537) }] }],
      ["status 256", { v: 1, records: [end(g, rid(), 256)] }],
      ["bad id", { v: 1, records: [{ ...cmd(g, "x"), id: "x".repeat(32) }] }],
      ["bad from", { v: 1, records: [{ ...cmd(g, "x"), from: "1.2.3.4; rm" }] }],
      ["201 records", { v: 1, records: Array.from({ length: 201 }, () => cmd(g, "x")) }],
      ["one bad among good", { v: 1, records: [cmd(g, "fine"), { ...cmd(g, "x"), time: -1 }] }],
    ];
    for (const [what, body] of cases) {
      const r = await send("a1", body);
      expect(r.statusCode, what).toBe(400);
      expect(code(r), what).toBe("support_record_invalid");
      expect(r.body, what).not.toContain("fine");
    }
    const big = await send("a1", { v: 1, records: [cmd(g, "x".repeat(600_000)), cmd(g, "y".repeat(600_000))] });
    expect(big.statusCode).toBe(413);
    expect(await head()).toBe(n);
  });

  it("a grant ended less than an hour ago still takes records (flagged when after the end); longer ago is refused", async () => {
    const g = agents.a2!.grant;
    const rev = await env.app.inject({ method: "DELETE", url: `/v1/agents/a2/support-access/${g}`, headers: bearer(alice) });
    expect(rev.statusCode).toBe(200);
    const late = { ...cmd(g, "after the end"), time: now() + 2 }; // whole seconds: clearly after the revocation
    expect((await send("a2", { v: 1, records: [late] })).statusCode).toBe(200);
    const log = (await env.app.inject({ method: "GET", url: `/v1/agents/a2/support/events?grant=${g}`, headers: bearer(alice) })).json() as { events: { after_grant_end: boolean }[] };
    expect(log.events.at(-1)!.after_grant_end).toBe(true);
    const raw = await env.raw();
    await raw.run("update support_grants set revoked_at = ? where id = ?", new Date(Date.now() - 2 * 3600_000).toISOString(), g);
    await raw.close();
    const n = await head();
    const r = await send("a2", { v: 1, records: [cmd(g, "too late")] });
    expect(r.statusCode).toBe(410);
    expect(code(r)).toBe("support_grant_ended");
    expect(await head()).toBe(n);
  });

  it("a forged grant row (not revoked, MAC invalid) takes no records", async () => {
    const raw = await env.raw();
    await raw.run("update support_grants set expires_at = ? where id = ?", new Date(Date.now() + 9 * 86_400_000).toISOString(), agents.b1!.grant);
    await raw.close();
    const r = await send("b1", { v: 1, records: [cmd(agents.b1!.grant, "x")] });
    expect(code(r)).toBe("support_grant_not_found");
  });

  it("a command that is not UTF-8 keeps its exact bytes", async () => {
    const c = { ...cmd(agents.a1!.grant, ""), cmd: "6563686fff0a" };
    expect((await send("a1", { v: 1, records: [c] })).statusCode).toBe(200);
    const log = (await env.app.inject({ method: "GET", url: "/v1/agents/a1/support/events", headers: bearer(alice) })).json() as { events: { record_id: string; command?: string; command_hex?: string }[] };
    expect(log.events.find((e) => e.record_id === c.id)).toMatchObject({ command: "echo\ufffd\n", command_hex: "6563686fff0a" });
  });

  it("the formats §24 vector's request becomes the vector's audit events (its grant swapped for a real one)", async () => {
    type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const v = JSON.parse(readFileSync(new URL("../vectors/support/support-records.json", import.meta.url), "utf8").replaceAll("grt_0123456789abcdef0123", agents.a1!.grant)) as Any;
    const r = await send("a1", v.request);
    expect(r.statusCode, r.body).toBe(200);
    const evs = (await env.rt.audit.list({ limit: 100_000 })).filter((e) => v.request.records.some((x: Any) => x.id === e.metadata.record_id));
    expect(evs.map((e) => ({ action: e.action, actor: e.actor }))).toEqual(v.audit.map((a: Any) => ({ action: a.action, actor: a.actor })));
    evs.forEach((e, i) => expect(e.metadata).toMatchObject(v.audit[i].metadata_subset));
  });
});
