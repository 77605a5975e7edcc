import { afterEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { verifyMessage } from "ethers";
import { buildHandshake } from "../../src/agents/signing.js";
import { rotateMasterKey } from "../../src/ops/master-rotate.js";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Master-key rotation re-wraps everything the old key protected — epoch DEKs, agent secrets, the
// audit log's MACs — so that afterwards the old key can be thrown away.

const envs: TestEnv[] = [];
afterEach(async () => {
  while (envs.length) await envs.pop()!.close();
});

describe.each(BACKENDS)("master-key rotation ($name)", (backend) => {
  it("after the job, only the new key is needed for secrets, agents and the audit log", async () => {
    const old = await startTestEnv({}, undefined, backend);
    envs.push(old);
    const token = await createUser(old, "alice");
    const agent = (await old.app.inject({ method: "POST", url: "/v1/agents", headers: bearer(token), payload: { name: "bot" } })).json();
    expect(agent.agent_secret).toBeDefined();
    await putSecret(old, token, "bot/K", "before-rotation");
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const grant = (await old.app.inject({ method: "POST", url: "/v1/agents/bot/support-access", headers: bearer(token), payload: { public_key: KEY } })).json();
    // A signer identity (its key sealed under the master's seal purpose key) with a policy.
    const idn = (await old.app.inject({ method: "POST", url: "/v1/identities", headers: bearer(token), payload: { curve: "secp256k1" } })).json() as { id: string; address: string };
    expect((await old.app.inject({ method: "PUT", url: `/v1/identities/${idn.id}/policy`, headers: bearer(token), payload: { allow_messages: true, max_value_per_tx: "5" } })).statusCode).toBe(200);
    await old.shutdown();

    const newKey = randomBytes(32).toString("base64");
    const both = await startTestEnv({ CLAWKEEP_MASTER_KEY: newKey, CLAWKEEP_PREVIOUS_MASTER_KEYS: old.masterKey }, { dir: old.dir, masterKey: newKey, adminToken: old.adminToken, storage: { env: old.storageEnv, cleanup: async () => undefined } }, backend);
    // During the window both keys work, and new writes already use the new key. API tokens
    // cannot be re-keyed (the server never has them): they are re-issued in the window.
    await putSecret(both, token, "bot/K", "during-rotation");
    const reissued = (await both.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(token), payload: { name: "after-rotation" } })).json().token as string;
    const r = await rotateMasterKey(both.rt);
    // Users rows (admin, alice) and the grant are re-MAC'd under the new key.
    expect(r).toMatchObject({ deks: 1, agentSecrets: 1, rows: 3 });
    expect(r.events).toBeGreaterThan(0);
    await both.shutdown();

    const fresh = await startTestEnv({ CLAWKEEP_MASTER_KEY: newKey }, { dir: old.dir, masterKey: newKey, adminToken: old.adminToken, storage: { env: old.storageEnv, cleanup: async () => undefined } }, backend);
    envs.push(fresh);
    // The token issued under the old key is refused; the re-issued one works.
    expect((await fresh.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(token) })).statusCode).toBe(401);
    const get = async (v: number) => (await fresh.app.inject({ method: "GET", url: `/v1/secrets/bot/K?version=${v}`, headers: bearer(reissued) })).json().value;
    expect(await get(1)).toBe("before-rotation");
    expect(await get(2)).toBe("during-rotation");
    const hs = await fresh.app.inject({ method: "POST", url: "/v1/agents/handshake", headers: { "content-type": "application/json" }, payload: buildHandshake(agent.agent_id, agent.agent_secret) });
    expect(hs.statusCode, hs.body).toBe(200);
    // Admin rights and support grants still verify with only the new key loaded.
    expect((await fresh.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(old.adminToken) })).statusCode).toBe(401); // its token predates the rotation
    expect(await fresh.rt.users.hasAdmin()).toBe(true);
    const grants = (await fresh.app.inject({ method: "GET", url: "/v1/agent/support-access", headers: bearer(hs.json().agent_token) })).json().grants as { id: string }[];
    expect(grants.map((g) => g.id)).toEqual([grant.id]);
    expect(await fresh.rt.audit.verify()).toMatchObject({ ok: true });
    // The identity signs with only the new key: its key was resealed, its rows re-MAC'd.
    expect(r.signingKeys).toBe(1);
    const msg = { kind: "eip191", message: "after rotation" };
    const i = await fresh.app.inject({ method: "POST", url: `/v1/identities/${idn.id}/sign-intent`, headers: bearer(reissued), payload: { payload: msg } });
    expect(i.statusCode, i.body).toBe(200);
    const sig = await fresh.app.inject({ method: "POST", url: `/v1/identities/${idn.id}/sign`, headers: bearer(reissued), payload: { ticket: i.json().ticket, payload: msg } });
    expect(sig.statusCode, sig.body).toBe(200);
    expect(verifyMessage("after rotation", sig.json().signature)).toBe(idn.address);
  });
});
