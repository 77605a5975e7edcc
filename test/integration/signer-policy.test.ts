import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { Interface, Transaction, verifyMessage, Wallet } from "ethers";
import { base58 } from "@scure/base";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, startSecondNode, startTestEnv, type TestEnv, type TestNode } from "../helpers/runtime.js";
import { buildHandshake } from "../../src/agents/signing.js";

// What stands between a valid ticket and a signature besides the ticket: per-identity policy
// (with an explained dry run and a rolling budget that two nodes cannot overspend), the freeze
// of a user or an agent, agents as signer principals, and rate limits shared across nodes. Every
// signed result is checked with ethers, which did not make it.

type Json = Record<string, unknown>;
const ETH = 10n ** 18n;
const erc20 = new Interface(["function transfer(address to, uint256 amount)"]);
const USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";

const ethTx = (to: string, value: bigint, nonce = 0, data?: string) =>
  ({ kind: "evm_transaction", transaction: Transaction.from({ type: 2, chainId: 1, to, value, nonce, gasLimit: 90_000, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 8n, ...(data ? { data } : {}) }).unsignedSerialized }) as const;

function solanaTransfer(from: Uint8Array, to: Uint8Array, lamports: bigint): string {
  const data = Buffer.alloc(12);
  data.writeUInt32LE(2, 0);
  data.writeBigUInt64LE(lamports, 4);
  return Buffer.concat([Buffer.from([1, 0, 1, 3]), from, to, Buffer.alloc(32), randomBytes(32), Buffer.from([1, 2, 2, 0, 1, 12]), data]).toString("base64");
}

for (const backend of BACKENDS) {
  describe(`signer policy, freeze, agents and rate limits (${backend.name})`, () => {
    let env: TestEnv;
    let alice: string;
    let node2: TestNode;
    let app2: FastifyInstance;

    beforeAll(async () => {
      env = await startTestEnv({}, undefined, backend);
      alice = await createUser(env, "alice");
      node2 = await startSecondNode(env);
      app2 = node2.app;
    });
    afterAll(async () => {
      await node2?.close();
      await env?.close();
    });

    const call = async (token: string, method: "GET" | "POST" | "PUT" | "DELETE", url: string, payload?: unknown, app: FastifyInstance = env.app) => {
      const r = await app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as Json } : {}) });
      return { status: r.statusCode, body: r.json() as Json, headers: r.headers };
    };
    const code = (r: { body: Json }) => (r.body.error as { code: string } | undefined)?.code;
    const create = async (token: string, body: Json, prefix = "/v1/identities") => {
      const r = await call(token, "POST", prefix, body);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body as { id: string; address: string; public_key: string; agent_id: string | null };
    };
    const intent = (token: string, id: string, payload: unknown, o: { app?: FastifyInstance; prefix?: string; dry?: boolean } = {}) =>
      call(token, "POST", `${o.prefix ?? "/v1/identities"}/${id}/sign-intent${o.dry ? "?dry_run=1" : ""}`, { payload }, o.app);
    const sign = (token: string, id: string, ticket: unknown, payload: unknown, o: { app?: FastifyInstance; prefix?: string } = {}) =>
      call(token, "POST", `${o.prefix ?? "/v1/identities"}/${id}/sign`, { ticket, payload }, o.app);
    const events = async (action: string) => (await env.rt.audit.list({ limit: 5000 })).filter((e) => e.action === action);

    describe("policy", () => {
      const friend = Wallet.createRandom().address;
      const stranger = Wallet.createRandom().address;

      it("is kept normalised; a payload it denies is refused at sign-intent with the rule, and a dry run explains without a ticket", async () => {
        const id = await create(alice, { curve: "secp256k1" });
        const put = await call(alice, "PUT", `/v1/identities/${id.id}/policy`, {
          allowed_recipients: [friend.toLowerCase()],
          max_value_per_tx: String(ETH),
          rolling_limit: { max_value: String((3n * ETH) / 2n), window_seconds: 3600 },
        });
        expect(put.status, JSON.stringify(put.body)).toBe(200);
        expect((await call(alice, "GET", `/v1/identities/${id.id}/policy`)).body.policy).toEqual({
          allowed_recipients: [friend],
          max_value_per_tx: String(ETH),
          rolling_limit: { max_value: String((3n * ETH) / 2n), window_seconds: 3600 },
        });

        const dry = await intent(alice, id.id, ethTx(stranger, 1n), { dry: true });
        expect(dry.status).toBe(200);
        expect(dry.body).toMatchObject({ dry_run: true, policy: { allowed: false, rule: "allowed_recipients", budget: { left: String((3n * ETH) / 2n) } } });
        expect(dry.body.ticket).toBeUndefined();
        expect((await events("SignIntentDryRun")).at(-1)?.metadata).toMatchObject({ allowed: false, rule: "allowed_recipients" });

        const r = await intent(alice, id.id, ethTx(stranger, 1n));
        expect([r.status, code(r), (r.body.error as Json).rule]).toEqual([403, "policy_denied", "allowed_recipients"]);
        const big = await intent(alice, id.id, ethTx(friend, 2n * ETH));
        expect([code(big), (big.body.error as Json).rule]).toEqual(["policy_denied", "max_value_per_tx"]);
        expect((await events("SignIntentRefused")).filter((e) => e.metadata.code === "policy_denied").length).toBeGreaterThanOrEqual(2);

        const ok = ethTx(friend, ETH);
        const i = await intent(alice, id.id, ok);
        expect(i.status, JSON.stringify(i.body)).toBe(200);
        expect(i.body.policy).toMatchObject({ allowed: true, budget: { spent: String(ETH), left: String(ETH / 2n) } });
        const s = await sign(alice, id.id, i.body.ticket, ok);
        expect(s.status, JSON.stringify(s.body)).toBe(200);
        expect(Transaction.from(s.body.signed_transaction as string).from).toBe(id.address);

        // The second ether does not fit what is left of the rolling budget.
        const again = await intent(alice, id.id, ethTx(friend, ETH, 1), { dry: true });
        expect(again.body.policy).toMatchObject({ allowed: false, rule: "rolling_limit", budget: { spent: String(ETH), left: String(ETH / 2n) } });
        const half = ethTx(friend, ETH / 2n, 1);
        const h = await intent(alice, id.id, half);
        expect((await sign(alice, id.id, h.body.ticket, half)).status).toBe(200);
      });

      it("is checked again at sign: a policy tightened after the ticket was issued wins", async () => {
        const id = await create(alice, { curve: "secp256k1" });
        const p = ethTx(friend, ETH);
        const i = await intent(alice, id.id, p);
        expect(i.status).toBe(200);
        await call(alice, "PUT", `/v1/identities/${id.id}/policy`, { max_value_per_tx: "1000" });
        const s = await sign(alice, id.id, i.body.ticket, p);
        expect([s.status, code(s), (s.body.error as Json).rule]).toEqual([403, "policy_denied", "max_value_per_tx"]);
        // Refused before it was spent: loosen the policy and the same ticket signs.
        await call(alice, "PUT", `/v1/identities/${id.id}/policy`, {});
        expect((await sign(alice, id.id, i.body.ticket, p)).status).toBe(200);
      });

      it("two nodes signing at once cannot overspend the rolling budget", async () => {
        const id = await create(alice, { curve: "secp256k1" });
        await call(alice, "PUT", `/v1/identities/${id.id}/policy`, { rolling_limit: { max_value: String(3n * ETH), window_seconds: 3600 } });
        // Eight tickets of one ether each: every one fits the budget when it is issued.
        const tickets = [];
        for (let n = 0; n < 8; n++) {
          const p = ethTx(friend, ETH, n);
          const i = await intent(alice, id.id, p);
          expect(i.status, JSON.stringify(i.body)).toBe(200);
          tickets.push({ p, t: i.body.ticket });
        }
        const out = await Promise.all(tickets.map(({ p, t }, n) => sign(alice, id.id, t, p, { app: n % 2 ? app2 : env.app })));
        const ok = out.filter((r) => r.status === 200);
        expect(ok.length).toBe(3);
        for (const r of out.filter((r) => r.status !== 200)) expect([code(r), (r.body.error as Json).rule]).toEqual(["policy_denied", "rolling_limit"]);
        for (const r of ok) expect(Transaction.from(r.body.signed_transaction as string).from).toBe(id.address);
        const raw = await env.raw();
        const spends = await raw.all<{ amount: string }>("select amount from signer_spends where identity_id = ?", id.id);
        await raw.close();
        expect(spends.reduce((s, r) => s + BigInt(r.amount), 0n)).toBe(3n * ETH);
      });

      it("contracts: an ERC-20 transfer needs its token listed and its recipient allowed; an undecoded call is denied under a recipient list", async () => {
        const id = await create(alice, { curve: "secp256k1" });
        await call(alice, "PUT", `/v1/identities/${id.id}/policy`, { allowed_recipients: [friend], allowed_contracts: [USDC] });
        const toFriend = ethTx(USDC, 0n, 0, erc20.encodeFunctionData("transfer", [friend, 5_000_000n]));
        expect((await intent(alice, id.id, toFriend, { dry: true })).body.policy).toMatchObject({ allowed: true });
        const toStranger = ethTx(USDC, 0n, 0, erc20.encodeFunctionData("transfer", [stranger, 5_000_000n]));
        expect((await intent(alice, id.id, toStranger, { dry: true })).body.policy).toMatchObject({ allowed: false, rule: "allowed_recipients" });
        const otherToken = ethTx(stranger, 0n, 0, erc20.encodeFunctionData("transfer", [friend, 1n]));
        expect((await intent(alice, id.id, otherToken, { dry: true })).body.policy).toMatchObject({ allowed: false, rule: "allowed_contracts" });

        const id2 = await create(alice, { curve: "secp256k1" });
        await call(alice, "PUT", `/v1/identities/${id2.id}/policy`, { allowed_recipients: [friend] });
        const opaque = ethTx(friend, 0n, 0, "0xdeadbeef0000");
        expect((await intent(alice, id2.id, opaque, { dry: true })).body.policy).toMatchObject({ allowed: false, rule: "allowed_recipients" });
      });

      it("messages and blind digests: refused when the policy says so or cannot see through them", async () => {
        const id = await create(alice, { curve: "secp256k1", allow_blind_signing: true });
        await call(alice, "PUT", `/v1/identities/${id.id}/policy`, { allow_messages: false, max_value_per_tx: "0" });
        const m = await intent(alice, id.id, { kind: "eip191", message: "permit?" });
        expect([code(m), (m.body.error as Json).rule]).toEqual(["policy_denied", "allow_messages"]);
        const d = await intent(alice, id.id, { kind: "digest", digest: `0x${"11".repeat(32)}` });
        expect([code(d), (d.body.error as Json).rule]).toEqual(["policy_denied", "blind"]);
      });

      it("Solana: recipients of decoded transfers are checked; lamports count against the limit", async () => {
        const id = await create(alice, { curve: "ed25519" });
        const ok = randomBytes(32);
        await call(alice, "PUT", `/v1/identities/${id.id}/policy`, { allowed_recipients: [base58.encode(ok)], max_value_per_tx: "1000000" });
        const from = base58.decode(id.address);
        expect((await intent(alice, id.id, { kind: "solana_message", message: solanaTransfer(from, ok, 999_999n) }, { dry: true })).body.policy).toMatchObject({ allowed: true });
        expect((await intent(alice, id.id, { kind: "solana_message", message: solanaTransfer(from, ok, 1_000_001n) }, { dry: true })).body.policy).toMatchObject({ rule: "max_value_per_tx" });
        expect((await intent(alice, id.id, { kind: "solana_message", message: solanaTransfer(from, randomBytes(32), 1n) }, { dry: true })).body.policy).toMatchObject({ rule: "allowed_recipients" });
        const bad = await call(alice, "PUT", `/v1/identities/${id.id}/policy`, { allowed_recipients: ["0xnot-solana"] });
        expect([bad.status, code(bad)]).toEqual([400, "bad_request"]);
      });

      it("what previews cannot show is denied: a Solana program under value limits, typed data (a possible permit) under a recipient list", async () => {
        const sol = await create(alice, { curve: "ed25519" });
        await call(alice, "PUT", `/v1/identities/${sol.id}/policy`, { max_value_per_tx: "1000" });
        // One instruction of an unknown program, with the identity as signer: it could CPI-transfer lamports.
        const program = randomBytes(32);
        const msg = Buffer.concat([Buffer.from([1, 0, 1, 2]), base58.decode(sol.address), program, randomBytes(32), Buffer.from([1, 1, 1, 0, 1, 7])]).toString("base64");
        const d = await intent(alice, sol.id, { kind: "solana_message", message: msg }, { dry: true });
        expect(d.body.policy).toMatchObject({ allowed: false, rule: "allowed_contracts" });
        await call(alice, "PUT", `/v1/identities/${sol.id}/policy`, { max_value_per_tx: "1000", allowed_contracts: [base58.encode(program)] });
        expect((await intent(alice, sol.id, { kind: "solana_message", message: msg }, { dry: true })).body.policy).toMatchObject({ allowed: true });

        const evm = await create(alice, { curve: "secp256k1" });
        await call(alice, "PUT", `/v1/identities/${evm.id}/policy`, { allowed_recipients: [friend] });
        const permit = {
          kind: "eip712",
          typed_data: {
            types: { Permit: [{ name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }] },
            primaryType: "Permit",
            domain: { name: "USD Coin", version: "2", chainId: 1, verifyingContract: USDC },
            message: { owner: evm.address, spender: stranger, value: "1000000000", nonce: 0, deadline: 9999999999 },
          },
        };
        expect((await intent(alice, evm.id, permit, { dry: true })).body.policy).toMatchObject({ allowed: false, rule: "allow_messages" });
        await call(alice, "PUT", `/v1/identities/${evm.id}/policy`, { allowed_recipients: [friend], allow_messages: true });
        expect((await intent(alice, evm.id, permit, { dry: true })).body.policy).toMatchObject({ allowed: true });
      });

      it("a token holder cannot mint a login session (whose name lifts a freeze)", async () => {
        const r = await call(alice, "POST", "/v1/tokens", { name: "session:telegram" });
        expect([r.status, code(r)]).toEqual([400, "bad_request"]);
        expect((await call(alice, "POST", "/v1/tokens", { name: "Session:x" })).status).toBe(400);
      });

      it("a database writer who widens a policy is caught by its MAC", async () => {
        const id = await create(alice, { curve: "secp256k1" });
        await call(alice, "PUT", `/v1/identities/${id.id}/policy`, { max_value_per_tx: "1" });
        const raw = await env.raw();
        await raw.run("update identity_policies set policy = ? where identity_id = ?", JSON.stringify({ max_value_per_tx: String(1000n * ETH) }), id.id);
        await raw.close();
        const r = await intent(alice, id.id, ethTx(friend, ETH));
        expect([r.status, code(r)]).toEqual([500, "integrity_error"]);
        // Deleting the row does not widen it either: the user's own PUT is the only way back.
        expect((await events("IntegrityFailure")).some((e) => e.metadata.what === "identity policy MAC")).toBe(true);
      });
    });

    describe("freeze", () => {
      const login = async (tg: string) => {
        const c = (await env.app.inject({ method: "POST", url: "/v1/auth/challenge", payload: { telegram_user_id: tg } })).json();
        const v = await env.app.inject({ method: "POST", url: "/v1/auth/verify", payload: { challenge_id: c.challenge_id, challenge_secret: c.challenge_secret } });
        expect(v.statusCode, v.body).toBe(200);
        return v.json().token as string;
      };

      it("voids open tickets and refuses signing until a fresh login; an API token cannot lift it", async () => {
        const s1 = await login("31337");
        const id = await create(s1, { curve: "secp256k1" });
        const msg = { kind: "eip191", message: "before the freeze" };
        const open = await intent(s1, id.id, msg);
        expect(open.status).toBe(200);

        const f = await call(s1, "POST", "/v1/signer/freeze", {});
        expect(f.status, JSON.stringify(f.body)).toBe(200);
        for (const app of [env.app, app2]) {
          const r = await intent(s1, id.id, msg, { app });
          expect([r.status, code(r)]).toEqual([423, "signer_frozen"]);
          expect((r.body.error as Json).frozen_at).toBe(f.body.frozen_at);
        }
        const spend = await sign(s1, id.id, open.body.ticket, msg, { app: app2 });
        expect(code(spend)).toBe("signer_frozen");
        // The session that was open when the freeze came is not a fresh login.
        const lift = await call(s1, "POST", "/v1/signer/unfreeze", {});
        expect([lift.status, code(lift)]).toEqual([403, "fresh_login_required"]);
        expect((await call(s1, "GET", "/v1/signer/freeze")).body.frozen).toHaveLength(1);

        const s2 = await login("31337");
        expect((await call(s2, "GET", "/v1/signer/freeze")).body.frozen).toEqual([]);
        // The ticket from before the freeze stays void; a new one signs.
        const late = await sign(s2, id.id, open.body.ticket, msg);
        expect([late.status, code(late)]).toEqual([403, "ticket_voided"]);
        await new Promise((r) => setTimeout(r, 1100)); // tickets carry whole seconds
        const fresh = await intent(s2, id.id, msg);
        const ok = await sign(s2, id.id, fresh.body.ticket, msg);
        expect(ok.status, JSON.stringify(ok.body)).toBe(200);
        expect(verifyMessage(msg.message, ok.body.signature as string)).toBe(id.address);

        const codes = (await events("SignRefused")).map((e) => e.metadata.code);
        expect(codes).toEqual(expect.arrayContaining(["signer_frozen", "ticket_voided"]));
        expect((await events("SignerFrozen")).length).toBeGreaterThan(0);
        expect((await events("SignerUnfrozen")).some((e) => e.actor === "telegram:31337")).toBe(true);
        expect((await events("SignerUnfreezeRefused")).length).toBeGreaterThan(0);
      });

      it("a freeze that lands while a sign is in flight (after its ticket is spent) still stops it", async () => {
        const s1 = await login("5150");
        const id = await create(s1, { curve: "secp256k1" });
        const msg = { kind: "eip191", message: "in flight" };
        const i = await intent(s1, id.id, msg);
        expect(i.status).toBe(200);
        // The freeze comes from another node at the one moment between the ticket's spend and
        // the signature: right after this node's spend is recorded.
        const su = env.rt.singleUse;
        const claim = su.claim.bind(su);
        su.claim = async (...a: Parameters<typeof su.claim>) => {
          const won = await claim(...a);
          if (a[0] === "sign-ticket") expect((await call(s1, "POST", "/v1/signer/freeze", {}, app2)).status).toBe(200);
          return won;
        };
        let r: Awaited<ReturnType<typeof sign>>;
        try {
          r = await sign(s1, id.id, i.body.ticket, msg);
        } finally {
          su.claim = claim;
        }
        expect([r.status, code(r)]).toEqual([423, "signer_frozen"]);
        expect(r.body.signature).toBeUndefined();
        const s2 = await login("5150");
        const again = await sign(s2, id.id, i.body.ticket, msg);
        expect([again.status, code(again)]).toEqual([403, "ticket_voided"]);
      });

      it("an agent's freeze stops that agent only; its user lifts it from a fresh login", async () => {
        const s1 = await login("4004");
        const bot = (await call(s1, "POST", "/v1/agents", { name: "payer" })).body as { agent_id: string; agent_secret: string };
        const tok = (await env.app.inject({ method: "POST", url: "/v1/agents/handshake", headers: { "content-type": "application/json" }, payload: buildHandshake(bot.agent_id, bot.agent_secret) })).json().agent_token as string;
        const agentId = await create(tok, { curve: "secp256k1" }, "/v1/agent/identities");
        const own = await create(s1, { curve: "secp256k1" });
        const msg = { kind: "eip191", message: "hi" };
        expect((await call(s1, "POST", "/v1/signer/freeze", { agent: "payer" })).status).toBe(200);
        const r = await intent(tok, agentId.id, msg, { prefix: "/v1/agent/identities" });
        expect([r.status, code(r)]).toEqual([423, "signer_frozen"]);
        expect((await intent(s1, own.id, msg)).status).toBe(200);
        expect(code(await call(s1, "POST", "/v1/signer/unfreeze", { agent: "payer" }))).toBe("fresh_login_required");
        // An agent cannot lift (or set) a freeze.
        expect((await call(tok, "POST", "/v1/signer/unfreeze", {})).status).toBe(401);
        const s2 = await login("4004");
        expect((await call(s2, "POST", "/v1/signer/unfreeze", { agent: "payer" })).body).toMatchObject({ frozen: false });
        expect((await intent(tok, agentId.id, msg, { prefix: "/v1/agent/identities" })).status).toBe(200);
      });
    });

    describe("agents as signer principals", () => {
      let tok: string;
      let bound: { id: string; address: string; agent_id: string | null };
      let userOwn: { id: string };
      const A = "/v1/agent/identities";

      beforeAll(async () => {
        const bot = (await call(alice, "POST", "/v1/agents", { name: "trader" })).body as { agent_id: string; agent_secret: string };
        tok = (await env.app.inject({ method: "POST", url: "/v1/agents/handshake", headers: { "content-type": "application/json" }, payload: buildHandshake(bot.agent_id, bot.agent_secret) })).json().agent_token;
        bound = await create(tok, { curve: "secp256k1", label: "trader wallet" }, A);
        expect(bound.agent_id).toBe(bot.agent_id);
        userOwn = await create(alice, { curve: "secp256k1" });
      });

      it("an agent signs with its own identity, on either node; the signature verifies with ethers", async () => {
        const msg = { kind: "eip191", message: "agent says hi" };
        const i = await intent(tok, bound.id, msg, { prefix: A, app: app2 });
        expect(i.status, JSON.stringify(i.body)).toBe(200);
        const s = await sign(tok, bound.id, i.body.ticket, msg, { prefix: A });
        expect(s.status, JSON.stringify(s.body)).toBe(200);
        expect(verifyMessage(msg.message, s.body.signature as string)).toBe(bound.address);
        expect((await events("SignatureIssued")).at(-1)?.actor).toMatch(/^agent:agt_/);
        // Its user sees the agent's identity, bound to it.
        const ls = (await call(alice, "GET", "/v1/identities")).body.identities as Json[];
        expect(ls.find((x) => x.id === bound.id)).toMatchObject({ agent_id: bound.agent_id });
      });

      it("an agent sees none of its user's other identities and cannot loosen, destroy or cross over", async () => {
        const ls = (await call(tok, "GET", A)).body.identities as Json[];
        expect(ls.map((x) => x.id)).toEqual([bound.id]);
        const other = await intent(tok, userOwn.id, { kind: "eip191", message: "x" }, { prefix: A });
        expect([other.status, code(other)]).toEqual([404, "not_found"]);
        expect(code(await call(tok, "PUT", `${A}/${bound.id}/policy`, {}))).toBe("forbidden");
        expect(code(await call(tok, "DELETE", `${A}/${bound.id}`))).toBe("forbidden");
        expect(code(await call(tok, "POST", A, { curve: "secp256k1", allow_blind_signing: true }))).toBe("forbidden");
        // A ticket the user got for the agent's identity is not the agent's to spend, nor the other way round.
        const msg = { kind: "eip191", message: "whose ticket?" };
        const mine = await intent(alice, bound.id, msg);
        expect(code(await sign(tok, bound.id, mine.body.ticket, msg, { prefix: A }))).toBe("ticket_mismatch");
        // Agent tokens are refused on the user routes, user tokens on the agent routes.
        expect((await call(tok, "GET", "/v1/identities")).status).toBe(401);
        expect((await call(alice, "GET", A)).status).toBe(401);
      });
    });

    describe("rate limits", () => {
      // Two more nodes on the same storage with small limits: the counts live in the meta store.
      let nodes: TestNode[] = [];
      beforeAll(async () => {
        const limits = { RATE_LIMIT_WINDOW_MS: "3600000", RATE_LIMIT_PER_USER: "40", RATE_LIMIT_PER_IDENTITY_SIGN: "5" };
        for (let n = 0; n < 2; n++) nodes.push(await startSecondNode(env, limits));
      });
      afterAll(async () => {
        for (const n of nodes) await n.close();
        nodes = [];
      });

      it("RATE_LIMIT_PER_IDENTITY_SIGN holds across two nodes under concurrent load, with a typed 429 and Retry-After", async () => {
        const user = await createUser(env, "rl-sign");
        const id = await create(user, { curve: "secp256k1" });
        const tickets = [];
        for (let n = 0; n < 12; n++) {
          const p = { kind: "eip191", message: `m${n}` };
          tickets.push({ p, t: (await intent(user, id.id, p)).body.ticket });
        }
        const out = await Promise.all(tickets.map(({ p, t }, n) => sign(user, id.id, t, p, { app: nodes[n % 2]!.app })));
        expect(out.filter((r) => r.status === 200).length).toBe(5);
        const limited = out.filter((r) => r.status !== 200);
        expect(limited.length).toBe(7);
        for (const r of limited) {
          expect([r.status, code(r)]).toEqual([429, "rate_limited"]);
          expect(Number(r.headers["retry-after"])).toBeGreaterThan(0);
          expect(Number(r.headers["retry-after"])).toBeLessThanOrEqual(3600);
        }
      });

      it("RATE_LIMIT_PER_USER holds across two nodes and leaves other users alone", async () => {
        const user = await createUser(env, "rl-user");
        const other = await createUser(env, "rl-other");
        const out = await Promise.all(Array.from({ length: 60 }, (_, n) => call(user, "GET", "/v1/identities", undefined, nodes[n % 2]!.app)));
        expect(out.filter((r) => r.status === 200).length).toBe(40);
        expect(out.filter((r) => r.status === 429).length).toBe(20);
        expect((await call(other, "GET", "/v1/identities", undefined, nodes[0]!.app)).status).toBe(200);
      });
    });
  });
}
