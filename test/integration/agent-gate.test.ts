import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, startTestEnv, tempDir, type TestEnv } from "../helpers/runtime.js";
import { cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";

// The <agent> of <agent>/<NAME> is a registered, active agent of the writing user: a put to any
// other agent (never registered, another user's, disabled) is refused with its own code and
// writes nothing.

describe.each(BACKENDS)("secret put needs a registered agent (API, $name)", (backend) => {
  let env: TestEnv;
  let alice: string;
  let bob: string;
  const put = (token: string, ref: string, value = "v") =>
    env.app.inject({ method: "PUT", url: `/v1/secrets/${ref}`, headers: { ...bearer(token), "content-type": "application/octet-stream" }, payload: value });
  const rows = async () => {
    const raw = await env.raw();
    const n = await raw.all<{ n: number }>("select (select count(*) from secret_versions) + (select count(*) from secret_heads) + (select count(*) from user_epochs) as n");
    await raw.close();
    return Number(n[0]!.n);
  };

  beforeAll(async () => {
    env = await startTestEnv({}, undefined, backend);
    alice = await createUser(env, "alice");
    bob = await createUser(env, "bob");
    expect((await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(alice), payload: { name: "billing-bot" } })).statusCode).toBe(201);
    expect((await env.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(alice), payload: { name: "old-bot" } })).statusCode).toBe(201);
    expect((await env.app.inject({ method: "POST", url: "/v1/agents/old-bot/disable", headers: bearer(alice) })).statusCode).toBe(200);
  });
  afterAll(async () => env?.close());

  it("an agent that was never registered: agent_not_registered, nothing written", async () => {
    const before = await rows();
    const r = await put(alice, "billing-bto/OPENAI_API_KEY");
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe("agent_not_registered");
    expect(await rows()).toBe(before);
  });

  it("another user's agent looks exactly like an unregistered one", async () => {
    const theirs = await put(bob, "billing-bot/K");
    const nobodys = await put(bob, "nobody-bot/K");
    expect(theirs.statusCode).toBe(404);
    expect(theirs.json().error.code).toBe("agent_not_registered");
    expect(theirs.json().error.message.replaceAll("billing-bot", "X")).toBe(nobodys.json().error.message.replaceAll("nobody-bot", "X"));
  });

  it("a disabled agent: agent_disabled, nothing written", async () => {
    const before = await rows();
    const r = await put(alice, "old-bot/K");
    expect(r.statusCode).toBe(403);
    expect(r.json().error.code).toBe("agent_disabled");
    expect(await rows()).toBe(before);
  });

  it("the registered, active agent: stored", async () => {
    const r = await put(alice, "billing-bot/OPENAI_API_KEY", "sk-1");
    expect(r.statusCode, r.body).toBe(201);
  });
});

describe("secret put needs a registered agent (CLI)", () => {
  const dir = tempDir();
  let server: ServerProc;
  let user: Record<string, string>;
  beforeAll(async () => {
    server = await startServer(dir);
    user = await cliUser(server, "ops");
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses with exit 3 and the code, then works once the agent is created", async () => {
    const refused = await runCli(["secret", "put", "deploy-bot/TOKEN"], { env: user, input: "v1" });
    expect(refused.code).toBe(3);
    expect(refused.stderr.toString()).toMatch(/agent_not_registered/);
    expect(refused.stderr.toString()).toMatch(/agent create deploy-bot/);
    expect((await runCli(["agent", "create", "deploy-bot"], { env: user })).code).toBe(0);
    const ok = await runCli(["secret", "put", "deploy-bot/TOKEN"], { env: user, input: "v1" });
    expect(ok.code, ok.stderr.toString()).toBe(0);
    expect((await runCli(["agent", "disable", "deploy-bot"], { env: user })).code).toBe(0);
    const disabled = await runCli(["secret", "put", "deploy-bot/TOKEN"], { env: user, input: "v2" });
    expect(disabled.code).toBe(4);
    expect(disabled.stderr.toString()).toMatch(/agent_disabled/);
  });
});
