import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCipheriv, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { Transaction, computeAddress, recoverAddress, verifyMessage, verifyTypedData, Wallet } from "ethers";
import nacl from "tweetnacl";
import { base58 } from "@scure/base";
import { BACKENDS, type RawDb } from "../helpers/backends.js";
import { bearer, createUser, ensureAgent, filesUnder, startSecondNode, startTestEnv, type TestEnv, type TestNode } from "../helpers/runtime.js";
import { issueTicket } from "../../src/signer/tickets.js";
import { openSealedKey, sealingKeyId } from "../../src/signer/sealed-key.js";
import { identityRowMac } from "../../src/signer/identities.js";

// The signer's promises, through the HTTP API on each storage backend, with every signature
// checked by a library that did not make it (ethers for secp256k1, tweetnacl for ed25519).

const WORKER_KEY = randomBytes(32).toString("hex");

type Json = Record<string, unknown>;

/** A legacy Solana message: one System Program transfer of `lamports` from `from` to `to`. */
function solanaTransfer(from: Uint8Array, to: Uint8Array, lamports: bigint, blockhash = randomBytes(32)): Buffer {
  const data = Buffer.alloc(12);
  data.writeUInt32LE(2, 0);
  data.writeBigUInt64LE(lamports, 4);
  return Buffer.concat([Buffer.from([1, 0, 1, 3]), from, to, Buffer.alloc(32), blockhash, Buffer.from([1, 2, 2, 0, 1, 12]), data]);
}

const MAIL_TYPES = {
  Person: [
    { name: "name", type: "string" },
    { name: "wallet", type: "address" },
  ],
  Mail: [
    { name: "from", type: "Person" },
    { name: "to", type: "Person" },
    { name: "contents", type: "string" },
  ],
};
const MAIL_DOMAIN = { name: "Ether Mail", version: "1", chainId: 1, verifyingContract: "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" };
const MAIL = {
  from: { name: "Cow", wallet: "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826" },
  to: { name: "Bob", wallet: "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB" },
  contents: "Hello, Bob!",
};

for (const backend of BACKENDS) {
  describe(`signer (${backend.name})`, () => {
    let env: TestEnv;
    let alice: string;
    let bob: string;
    let node2: TestNode;
    let app2: FastifyInstance;

    beforeAll(async () => {
      env = await startTestEnv({ WORKER_SEALING_KEY: WORKER_KEY }, undefined, backend);
      alice = await createUser(env, "alice");
      bob = await createUser(env, "bob");
      // A second node on the same storage, as behind a load balancer.
      node2 = await startSecondNode(env, { WORKER_SEALING_KEY: WORKER_KEY });
      app2 = node2.app;
    });
    afterAll(async () => {
      await node2?.close();
      await env?.close();
    });

    const call = async (token: string, method: "GET" | "POST" | "DELETE", url: string, payload?: unknown, app: FastifyInstance = env.app) => {
      const r = await app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as Json } : {}) });
      return { status: r.statusCode, body: r.json() as Json, headers: r.headers };
    };
    const create = async (token: string, body: Json) => {
      const r = await call(token, "POST", "/v1/identities", body);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body as { id: string; address: string; public_key: string; curve: string };
    };
    const intent = (token: string, id: string, payload: unknown, app?: FastifyInstance) => call(token, "POST", `/v1/identities/${id}/sign-intent`, { payload }, app);
    const sign = (token: string, id: string, ticket: string, payload: unknown, app?: FastifyInstance) => call(token, "POST", `/v1/identities/${id}/sign`, { ticket, payload }, app);
    async function signed(token: string, id: string, payload: unknown) {
      const i = await intent(token, id, payload);
      expect(i.status, JSON.stringify(i.body)).toBe(200);
      const s = await sign(token, id, i.body.ticket as string, payload);
      expect(s.status, JSON.stringify(s.body)).toBe(200);
      return { intent: i.body, sig: s.body };
    }
    const code = (r: { body: Json }) => (r.body.error as { code: string }).code;

    it("secp256k1: the address is the public key's EVM address; EIP-191 and EIP-712 signatures verify with ethers", async () => {
      const id = await create(alice, { curve: "secp256k1", label: "treasury" });
      expect(id.address).toBe(computeAddress(`0x${id.public_key}`));
      const msg = { kind: "eip191", message: "Sign in to example.org\nnonce: 7" };
      const a = await signed(alice, id.id, msg);
      expect(a.intent.preview).toMatchObject({ type: "EIP-191 personal message", text: msg.message });
      expect(verifyMessage(msg.message, a.sig.signature as string)).toBe(id.address);
      // Low-s (EIP-2) with a recovery id.
      const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      expect(BigInt(a.sig.s as string) <= n / 2n).toBe(true);
      expect([27, 28]).toContain(a.sig.v);

      const td = { types: MAIL_TYPES, primaryType: "Mail", domain: MAIL_DOMAIN, message: MAIL };
      const b = await signed(alice, id.id, { kind: "eip712", typed_data: td });
      expect(b.intent.preview).toMatchObject({ type: "EIP-712 typed data", primary_type: "Mail", domain: { name: "Ether Mail", chain_id: "1" } });
      expect(verifyTypedData(MAIL_DOMAIN, MAIL_TYPES, MAIL, b.sig.signature as string)).toBe(id.address);
    });

    it("EVM transactions: the preview decodes them; the signed transaction recovers to the identity (EIP-1559 and EIP-155 legacy)", async () => {
      const id = await create(alice, { curve: "secp256k1" });
      const to = Wallet.createRandom().address;
      const tx1559 = Transaction.from({ type: 2, chainId: 8453, to, value: 1_500_000_000_000_000n, nonce: 4, gasLimit: 21000, maxFeePerGas: 3_000_000_000n, maxPriorityFeePerGas: 1_000_000n });
      const a = await signed(alice, id.id, { kind: "evm_transaction", transaction: tx1559.unsignedSerialized });
      expect(a.intent.preview).toMatchObject({ chain_id: 8453, to, value_eth: "0.0015", nonce: 4 });
      const back = Transaction.from(a.sig.signed_transaction as string);
      expect(back.from).toBe(id.address);
      expect(back.hash).toBe(a.sig.transaction_hash);
      expect(back.to).toBe(to);

      // An ERC-20 transfer is shown decoded.
      const data = `0xa9059cbb${to.slice(2).toLowerCase().padStart(64, "0")}${(25n * 10n ** 6n).toString(16).padStart(64, "0")}`;
      const legacy = Transaction.from({ type: 0, chainId: 1, to: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", nonce: 0, gasLimit: 60000, gasPrice: 20_000_000_000n, data });
      const b = await signed(alice, id.id, { kind: "evm_transaction", transaction: legacy.unsignedSerialized });
      expect(b.intent.preview).toMatchObject({ call: { selector: "0xa9059cbb", erc20: { function: "transfer", args: [to, "25000000"] } } });
      expect(Transaction.from(b.sig.signed_transaction as string).from).toBe(id.address);

      // No chain id: replayable on every chain, refused.
      const bare = Transaction.from({ type: 0, to, nonce: 0, gasLimit: 21000, gasPrice: 1n });
      const r = await intent(alice, id.id, { kind: "evm_transaction", transaction: bare.unsignedSerialized });
      expect([r.status, code(r)]).toEqual([400, "payload_invalid"]);
    });

    it("ed25519: a Solana address; the transfer is previewed and the signature verifies with tweetnacl", async () => {
      const id = await create(alice, { curve: "ed25519" });
      const pub = Buffer.from(id.public_key, "hex");
      expect(base58.decode(id.address)).toEqual(new Uint8Array(pub));
      const dest = randomBytes(32);
      const msg = solanaTransfer(pub, dest, 1_250_000_000n);
      const a = await signed(alice, id.id, { kind: "solana_message", message: msg.toString("base64") });
      expect(a.intent.preview).toMatchObject({ fee_payer: id.address, instructions: [{ program: "11111111111111111111111111111111", transfer: { to: base58.encode(dest), sol: "1.25" } }] });
      expect(nacl.sign.detached.verify(msg, base58.decode(a.sig.signature as string), pub)).toBe(true);
      // A message this identity does not sign for is refused before any ticket exists.
      const other = solanaTransfer(randomBytes(32), dest, 1n);
      const r = await intent(alice, id.id, { kind: "solana_message", message: other.toString("base64") });
      expect([r.status, code(r)]).toEqual([400, "payload_invalid"]);
      // An EVM payload for a Solana key is refused too.
      expect(code(await intent(alice, id.id, { kind: "eip191", message: "x" }))).toBe("payload_invalid");
    });

    it("no blind signing by default; an identity that allows it signs a bare digest", async () => {
      const strict = await create(alice, { curve: "secp256k1" });
      const digest = `0x${randomBytes(32).toString("hex")}`;
      const r = await intent(alice, strict.id, { kind: "digest", digest });
      expect([r.status, code(r)]).toEqual([403, "blind_signing_refused"]);
      const loose = await create(alice, { curve: "secp256k1", allow_blind_signing: true });
      const s = await signed(alice, loose.id, { kind: "digest", digest });
      expect(s.intent.preview).toMatchObject({ type: "blind digest" });
      expect(recoverAddress(digest, s.sig.signature as string)).toBe(loose.address);
    });

    it("a ticket is single use: replayed on the same node and on another node, refused; concurrent spends, one wins", async () => {
      const id = await create(alice, { curve: "secp256k1" });
      const payload = { kind: "eip191", message: "once" };
      const i = await intent(alice, id.id, payload);
      const ticket = i.body.ticket as string;
      expect((await sign(alice, id.id, ticket, payload)).status).toBe(200);
      const same = await sign(alice, id.id, ticket, payload);
      expect([same.status, code(same)]).toEqual([409, "ticket_replayed"]);
      const other = await sign(alice, id.id, ticket, payload, app2);
      expect([other.status, code(other)]).toEqual([409, "ticket_replayed"]);

      const j = await intent(alice, id.id, payload, app2);
      const results = await Promise.all(Array.from({ length: 16 }, (_, k) => sign(alice, id.id, j.body.ticket as string, payload, k % 2 ? app2 : env.app)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.filter((r) => r.status === 409).every((r) => code(r) === "ticket_replayed")).toBe(true);
    });

    it("a ticket binds its payload, its identity and its caller; forged, tampered and expired tickets are refused", async () => {
      const id = await create(alice, { curve: "secp256k1" });
      const id2 = await create(alice, { curve: "secp256k1" });
      const i = await intent(alice, id.id, { kind: "eip191", message: "pay 1" });
      const ticket = i.body.ticket as string;
      const swapped = await sign(alice, id.id, ticket, { kind: "eip191", message: "pay 1000" });
      expect([swapped.status, code(swapped)]).toEqual([403, "ticket_mismatch"]);
      const moved = await sign(alice, id2.id, ticket, { kind: "eip191", message: "pay 1" });
      expect([moved.status, code(moved)]).toEqual([403, "ticket_mismatch"]);
      // Bob holds Alice's ticket: her identity is not his (404); on his own it is a mismatch.
      const bobs = await create(bob, { curve: "secp256k1" });
      expect((await sign(bob, id.id, ticket, { kind: "eip191", message: "pay 1" })).status).toBe(404);
      expect(code(await sign(bob, bobs.id, ticket, { kind: "eip191", message: "pay 1" }))).toBe("ticket_mismatch");

      const [h, p, s] = ticket.split(".") as [string, string, string];
      const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "AB" : "AA"}`;
      expect(code(await sign(alice, id.id, flipped, { kind: "eip191", message: "pay 1" }))).toBe("ticket_invalid");
      const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${p}.${s}`;
      expect(code(await sign(alice, id.id, none, { kind: "eip191", message: "pay 1" }))).toBe("ticket_invalid");
      const otherKey = (await issueTicket(randomBytes(32), JSON.parse(Buffer.from(p, "base64url").toString()), 300)).ticket;
      expect(code(await sign(alice, id.id, otherKey, { kind: "eip191", message: "pay 1" }))).toBe("ticket_invalid");

      const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Json;
      const expired = await issueTicket(env.rt.keys.ticketKey, { sub: id.id, uid: claims.uid as string, knd: "eip191", ph: claims.ph as string, vh: claims.vh as string }, 60, Date.now() - 120_000);
      const e = await sign(alice, id.id, expired.ticket, { kind: "eip191", message: "pay 1" });
      expect([e.status, code(e)]).toEqual([401, "ticket_expired"]);
      // None of the refusals spent the real ticket.
      expect((await sign(alice, id.id, ticket, { kind: "eip191", message: "pay 1" })).status).toBe(200);
    });

    it("another user's identity answers 404 everywhere, and the attempt is audited", async () => {
      const id = await create(alice, { curve: "ed25519" });
      for (const [m, u, b] of [
        ["GET", `/v1/identities/${id.id}`, undefined],
        ["DELETE", `/v1/identities/${id.id}`, undefined],
        ["POST", `/v1/identities/${id.id}/sign-intent`, { payload: { kind: "digest", digest: "0x00" } }],
        ["POST", `/v1/identities/${id.id}/restore`, {}],
      ] as const) {
        const r = await call(bob, m, u, b);
        expect([r.status, code(r)], `${m} ${u}`).toEqual([404, "not_found"]);
      }
      expect(((await call(bob, "GET", "/v1/identities")).body.identities as Json[]).map((i) => i.id)).not.toContain(id.id);
      expect((await call(alice, "GET", `/v1/identities/${id.id}`)).status).toBe(200);
      const audit = (await call(bob, "GET", "/v1/audit?limit=1000")).body.events as { action: string; metadata: Json; target: string }[];
      expect(audit.some((e) => e.action === "SignIntentRefused" && e.metadata.code === "not_found" && e.target === `identity/${id.id}`)).toBe(true);
    });

    it("every step is in the audit log, with hashes and never the payload", async () => {
      const id = await create(alice, { curve: "secp256k1" });
      const secret = `canary-${randomBytes(8).toString("hex")}`;
      const s = await signed(alice, id.id, { kind: "eip191", message: secret });
      await intent(alice, id.id, { kind: "digest", digest: `0x${"11".repeat(32)}` });
      const events = ((await call(alice, "GET", "/v1/audit?limit=1000")).body.events as { action: string; target: string; metadata: Json; outcome: string }[]).filter(
        (e) => e.target === `identity/${id.id}`,
      );
      expect(events.map((e) => e.action)).toEqual(["IdentityCreated", "SignIntentCreated", "SignatureIssued", "SignIntentRefused"]);
      expect(events[1]!.metadata.payload_hash).toBe(s.intent.payload_hash);
      expect(events[3]).toMatchObject({ outcome: "failure", metadata: { code: "blind_signing_refused" } });
      expect(JSON.stringify(events)).not.toContain(secret);
      expect((await call(env.adminToken, "GET", "/v1/audit/verify")).body).toMatchObject({ ok: true });
    });

    it("destroying an identity erases its key: it stops signing and no backup row is left", async () => {
      const id = await create(alice, { curve: "secp256k1" });
      const i = await intent(alice, id.id, { kind: "eip191", message: "late" });
      const d = await call(alice, "DELETE", `/v1/identities/${id.id}`);
      expect(d.body).toMatchObject({ status: "destroyed" });
      const raw = await env.raw();
      try {
        expect(await raw.all("select * from key_backups where identity_id = ?", id.id)).toEqual([]);
      } finally {
        await raw.close();
      }
      const r = await sign(alice, id.id, i.body.ticket as string, { kind: "eip191", message: "late" });
      expect([r.status, code(r)]).toEqual([410, "identity_destroyed"]);
      expect(code(await intent(alice, id.id, { kind: "eip191", message: "x" }))).toBe("identity_destroyed");
      expect(((await call(alice, "GET", "/v1/identities")).body.identities as Json[]).map((x) => x.id)).not.toContain(id.id);
    });

    it("an identity bound to an agent goes with the agent's erasure; a deleted user leaves no identity or key", async () => {
      await ensureAgent(env, alice, "trader");
      const bound = await create(alice, { curve: "secp256k1", agent: "trader" });
      const free = await create(alice, { curve: "ed25519" });
      expect((await call(alice, "GET", `/v1/identities/${bound.id}`)).body).toMatchObject({ agent_id: expect.stringMatching(/^agt_/) });
      expect(code(await call(alice, "POST", "/v1/identities", { curve: "secp256k1", agent: "nobody" }))).toBe("not_found");
      expect((await call(alice, "DELETE", "/v1/agents/trader")).status).toBe(200);
      expect((await call(alice, "GET", `/v1/identities/${bound.id}`)).body).toMatchObject({ status: "destroyed" });
      expect((await call(alice, "GET", `/v1/identities/${free.id}`)).body).toMatchObject({ status: "active" });

      const carol = await createUser(env, "carol");
      const c1 = await create(carol, { curve: "secp256k1" });
      expect((await call(env.adminToken, "DELETE", "/v1/users/carol")).status).toBe(200);
      const raw = await env.raw();
      try {
        expect(await raw.all("select id from identities where id = ?", c1.id)).toEqual([]);
        expect(await raw.all("select identity_id from key_backups where identity_id in (?, ?)", c1.id, bound.id)).toEqual([]);
      } finally {
        await raw.close();
      }
    });

    it("a sealed key moved onto another identity, or a row edited in the database, fails its integrity check", async () => {
      const a = await create(alice, { curve: "secp256k1" });
      const b = await create(alice, { curve: "secp256k1" });
      const raw = await env.raw();
      try {
        const [ka] = await raw.all<{ sealed_key: string }>("select sealed_key from key_backups where identity_id = ?", a.id);
        await raw.run("update key_backups set sealed_key = ? where identity_id = ?", ka!.sealed_key, b.id);
        const i = await intent(alice, b.id, { kind: "eip191", message: "swap" });
        const r = await sign(alice, b.id, i.body.ticket as string, { kind: "eip191", message: "swap" });
        expect([r.status, code(r)]).toEqual([500, "integrity_error"]);
        // A database writer turning blind signing on is caught by the row MAC.
        await raw.run("update identities set allow_blind = 1 where id = ?", a.id);
        const blind = await intent(alice, a.id, { kind: "digest", digest: `0x${"22".repeat(32)}` });
        expect([blind.status, code(blind)]).toEqual([500, "integrity_error"]);
      } finally {
        await raw.close();
      }
    });

    it("no private key is at rest in the clear: not in the database, the blobs or the logs", async () => {
      const ids = [await create(alice, { curve: "secp256k1" }), await create(alice, { curve: "ed25519" })];
      const raw = await env.raw();
      const canaries: Buffer[] = [];
      try {
        for (const id of ids) {
          const [row] = await raw.all<{ sealed_key: string }>("select sealed_key from key_backups where identity_id = ?", id.id);
          const { privateKey } = openSealedKey(sealingKeys(env), { user: await ownerOf(raw, id.id), identityId: id.id, curve: id.curve as "secp256k1" }, row!.sealed_key);
          canaries.push(privateKey);
        }
        const dump = JSON.stringify([...(await raw.all("select * from identities")), ...(await raw.all("select * from key_backups")), ...(await raw.all("select * from audit_events"))]);
        for (const k of canaries) for (const form of [k.toString("hex"), k.toString("base64"), k.toString("base64url")]) expect(dump).not.toContain(form);
      } finally {
        await raw.close();
      }
      const files = [...filesUnder(env.dir), ...env.storageDirs.flatMap(filesUnder)];
      for (const f of files) {
        const bytes = readFileSync(f);
        for (const k of canaries) {
          expect(bytes.includes(k), f).toBe(false);
          expect(bytes.includes(Buffer.from(k.toString("hex"))), f).toBe(false);
        }
      }
      for (const k of canaries) expect(env.logs()).not.toContain(k.toString("hex"));
    });

    it("reads the seed's sealed formats: a worker-mode key is resealed on restore; an enclave key answers 409", async () => {
      const id = await create(alice, { curve: "secp256k1" });
      const wallet = Wallet.createRandom();
      const sk = Buffer.from(wallet.privateKey.slice(2), "hex");
      // The seed's worker format, as its WebCrypto code writes it: {iv}:{ciphertext+tag}, base64.
      const iv = randomBytes(12);
      const c = createCipheriv("aes-256-gcm", Buffer.from(WORKER_KEY, "hex"), iv);
      const ct = Buffer.concat([c.update(Buffer.from(wallet.privateKey.slice(2))), c.final(), c.getAuthTag()]);
      const raw = await env.raw();
      try {
        // Point the identity at the imported key (its row MAC recomputed as a migration would).
        await adopt(env, raw, id.id, wallet.signingKey.publicKey.slice(2), wallet.address, `${iv.toString("base64")}:${ct.toString("base64")}`);
        const r = await call(alice, "POST", `/v1/identities/${id.id}/restore`, {});
        expect(r.body).toMatchObject({ resealed: true, format: "ck-sk1" });
        const [row] = await raw.all<{ sealed_key: string; format: string }>("select sealed_key, format from key_backups where identity_id = ?", id.id);
        expect(row!.sealed_key.startsWith("ck-sk1.")).toBe(true);
        const s = await signed(alice, id.id, { kind: "eip191", message: "imported" });
        expect(verifyMessage("imported", s.sig.signature as string)).toBe(wallet.address);

        await raw.run("update key_backups set sealed_key = ? where identity_id = ?", `ev:RFVC:${randomBytes(40).toString("base64")}:$`, id.id);
        const ev = await call(alice, "POST", `/v1/identities/${id.id}/restore`, {});
        expect([ev.status, code(ev)]).toEqual([409, "sealed_key_incompatible"]);
        // The enclave's local fallback under the enclave's own key: also incompatible here.
        const iv2 = randomBytes(12);
        const c2 = createCipheriv("aes-256-gcm", randomBytes(32), iv2);
        const ct2 = Buffer.concat([c2.update(sk), c2.final()]);
        await raw.run("update key_backups set sealed_key = ? where identity_id = ?", `${iv2.toString("hex")}:${ct2.toString("hex")}:${c2.getAuthTag().toString("hex")}`, id.id);
        const loc = await call(alice, "POST", `/v1/identities/${id.id}/restore`, {});
        expect([loc.status, code(loc)]).toEqual([409, "sealed_key_incompatible"]);
      } finally {
        await raw.close();
      }
    });

    it("a seed-format backup that has signed before is still refused when moved onto another identity", async () => {
      // The seed's worker format has no AAD: only the public-key check binds it to its identity.
      // The worker remembers backups it has checked; the memory must not vouch for a moved one.
      const a = await create(alice, { curve: "secp256k1" });
      const b = await create(alice, { curve: "secp256k1" });
      const wallet = Wallet.createRandom();
      const iv = randomBytes(12);
      const c = createCipheriv("aes-256-gcm", Buffer.from(WORKER_KEY, "hex"), iv);
      const ct = Buffer.concat([c.update(Buffer.from(wallet.privateKey.slice(2))), c.final(), c.getAuthTag()]);
      const sealed = `${iv.toString("base64")}:${ct.toString("base64")}`;
      const raw = await env.raw();
      try {
        await adopt(env, raw, a.id, wallet.signingKey.publicKey.slice(2), wallet.address, sealed);
        const s = await signed(alice, a.id, { kind: "eip191", message: "first" });
        expect(verifyMessage("first", s.sig.signature as string)).toBe(wallet.address);
        await raw.run("update key_backups set sealed_key = ?, key_id = null, format = ? where identity_id = ?", sealed, "worker-v0", b.id);
        const i = await intent(alice, b.id, { kind: "eip191", message: "moved" });
        const r = await sign(alice, b.id, i.body.ticket as string, { kind: "eip191", message: "moved" });
        expect([r.status, code(r)]).toEqual([500, "integrity_error"]);
        // And the identity it belongs to goes on signing with it.
        expect((await signed(alice, a.id, { kind: "eip191", message: "again" })).sig.signature).toBeTruthy();
      } finally {
        await raw.close();
      }
    });
  });
}

// What only an operator holding the keys could do: open a sealed key, write a row with a valid MAC.
const sealingKeys = (env: TestEnv) => {
  const key = Buffer.from(WORKER_KEY, "hex");
  return [{ keyId: sealingKeyId(key), key }, ...env.rt.keys.sealKeys];
};

async function ownerOf(raw: RawDb, id: string): Promise<string> {
  const [row] = await raw.all<{ user_id: string }>("select user_id from identities where id = ?", id);
  return row!.user_id;
}

/** Points identity `id` at an imported key (public key, address, sealed backup), as an import migration would. */
async function adopt(env: TestEnv, raw: RawDb, id: string, publicKey: string, address: string, sealed: string): Promise<void> {
  const [r] = await raw.all<{ user_id: string; agent_id: string | null; curve: "secp256k1"; allow_blind: number }>("select user_id, agent_id, curve, allow_blind from identities where id = ?", id);
  const mac = identityRowMac(env.rt.keys.rowKeys[0]!, { id, user_id: r!.user_id, agent_id: r!.agent_id, curve: r!.curve, public_key: publicKey, address, allow_blind: Number(r!.allow_blind) });
  await raw.run("update identities set public_key = ?, address = ?, mac = ? where id = ?", publicKey, address, mac, id);
  await raw.run("update key_backups set sealed_key = ?, key_id = null, format = ? where identity_id = ?", sealed, "worker-v0", id);
}
