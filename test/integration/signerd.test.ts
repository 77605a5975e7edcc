import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { Transaction, Wallet, verifyMessage } from "ethers";
import nacl from "tweetnacl";
import { base58 } from "@scure/base";
import { BACKENDS } from "../helpers/backends.js";
import { BIN } from "../helpers/proc.js";
import { startSignerd as startSignerdProc } from "../helpers/signerd.js";
import { bearer, createUser, filesUnder, startSecondNode, startTestEnv, type TestEnv } from "../helpers/runtime.js";
import { openSealedKey } from "../../src/signer/sealed-key.js";

// SIGNER_MODE=enclave with the real `clawkeep signerd` as a separate process: signatures verify
// with libraries that did not make them; the API's database dump and its master key together
// open no private key; signerd killed -9 under load comes back with no key in memory and the API
// restores from the backups on its own; a signerd whose attestation is not allowlisted is refused.

type Json = Record<string, unknown>;
const API_KEY = randomBytes(24).toString("base64url");
// The load below makes hundreds of requests a second: the rate limits (tested elsewhere) stay out of its way.
const NO_LIMITS = { RATE_LIMIT_PER_USER: "1000000", RATE_LIMIT_PER_IDENTITY_SIGN: "1000000" };

const startSignerd = (dir: string, key = API_KEY) => startSignerdProc(dir, key);

for (const backend of BACKENDS) {
  describe(`signerd, SIGNER_MODE=enclave (${backend.name})`, () => {
    let sdir: string;
    let signerd: { proc: ChildProcess; out: () => string };
    let env: TestEnv;
    let alice: string;
    let att: { SIGNERD_ATTESTATION_KEY: string; SIGNERD_MEASUREMENTS: string };
    let enclaveEnv: Record<string, string>;

    beforeAll(async () => {
      sdir = mkdtempSync(path.join(os.tmpdir(), "ck-signerd-"));
      const p = spawnSync(process.execPath, [BIN, "signerd", "--dir", sdir, "--print-attestation"], { encoding: "utf8" });
      expect(p.status, p.stderr).toBe(0);
      att = JSON.parse(p.stdout);
      expect(statSync(path.join(sdir, "sealing.key")).mode & 0o777).toBe(0o600);
      expect(statSync(sdir).mode & 0o777).toBe(0o700);
      signerd = await startSignerd(sdir);
      enclaveEnv = { SIGNER_MODE: "enclave", ENCLAVE_BASE_URL: `unix:${path.join(sdir, "signerd.sock")}`, INTERNAL_API_KEY: API_KEY, ...att, ...NO_LIMITS };
      env = await startTestEnv(enclaveEnv, undefined, backend);
      alice = await createUser(env, "alice");
    });
    afterAll(async () => {
      signerd?.proc.kill("SIGKILL");
      await env?.close();
      rmSync(sdir, { recursive: true, force: true });
    });

    const call = async (token: string, method: "GET" | "POST" | "DELETE", url: string, payload?: unknown, app: FastifyInstance = env.app) => {
      const r = await app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as Json } : {}) });
      return { status: r.statusCode, body: r.json() as Json };
    };
    // signerd spoken to directly, as the API does: over its unix socket with INTERNAL_API_KEY.
    const signerdCall = (method: string, p: string, body?: unknown) =>
      new Promise<{ status: number; body: Json }>((resolve, reject) => {
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        const req = http.request(
          { socketPath: path.join(sdir, "signerd.sock"), path: p, method, headers: { authorization: `Bearer ${API_KEY}`, ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}) } },
          (res) => {
            let t = "";
            res.on("data", (d: Buffer) => (t += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(t) as Json }));
          },
        );
        req.on("error", reject);
        req.end(payload);
      });
    const code = (r: { body: Json }) => (r.body.error as { code: string } | undefined)?.code;
    const create = async (curve: string) => {
      const r = await call(alice, "POST", "/v1/identities", { curve });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body as { id: string; address: string; public_key: string };
    };
    async function signFlow(id: string, payload: unknown, app?: FastifyInstance) {
      const i = await call(alice, "POST", `/v1/identities/${id}/sign-intent`, { payload }, app);
      if (i.status !== 200) return i;
      return call(alice, "POST", `/v1/identities/${id}/sign`, { ticket: i.body.ticket, payload }, app);
    }

    it("keys are made and used in signerd; signatures verify with ethers and tweetnacl", async () => {
      const evm = await create("secp256k1");
      const msg = "enclave mode";
      const a = await signFlow(evm.id, { kind: "eip191", message: msg });
      expect(a.status, JSON.stringify(a.body)).toBe(200);
      expect(verifyMessage(msg, a.body.signature as string)).toBe(evm.address);
      const tx = Transaction.from({ type: 2, chainId: 1, to: Wallet.createRandom().address, value: 5n, nonce: 0, gasLimit: 21000, maxFeePerGas: 10n ** 9n, maxPriorityFeePerGas: 1n });
      const t = await signFlow(evm.id, { kind: "evm_transaction", transaction: tx.unsignedSerialized });
      expect(Transaction.from(t.body.signed_transaction as string).from).toBe(evm.address);

      const sol = await create("ed25519");
      const hexMsg = randomBytes(40);
      const data = Buffer.alloc(12);
      data.writeUInt32LE(2, 0);
      data.writeBigUInt64LE(7n, 4);
      const m = Buffer.concat([Buffer.from([1, 0, 1, 3]), base58.decode(sol.address), randomBytes(32), Buffer.alloc(32), hexMsg.subarray(0, 32), Buffer.from([1, 2, 2, 0, 1, 12]), data]);
      const s = await signFlow(sol.id, { kind: "solana_message", message: m.toString("base64") });
      expect(s.status, JSON.stringify(s.body)).toBe(200);
      expect(nacl.sign.detached.verify(m, base58.decode(s.body.signature as string), base58.decode(sol.address))).toBe(true);
      const audit = (await env.rt.audit.list({ limit: 1000 })).filter((e) => e.action === "IdentityCreated");
      expect(audit.every((e) => e.metadata.signer_mode === "enclave")).toBe(true);
    });

    it("the API's database dump and its master key together open no private key; signerd's key opens them all", async () => {
      await create("secp256k1");
      const raw = await env.raw();
      const backups = await raw.all<{ identity_id: string; sealed_key: string; key_id: string }>("select identity_id, sealed_key, key_id from key_backups");
      const ids = await raw.all<{ id: string; user_id: string; curve: "secp256k1" | "ed25519"; public_key: string }>("select id, user_id, curve, public_key from identities");
      const tables = await raw.all<{ name: string }>(
        backend.dialect === "sqlite" ? "select name from sqlite_master where type = 'table'" : "select tablename as name from pg_tables where schemaname = current_schema()",
      );
      let dump = "";
      for (const t of tables) dump += JSON.stringify(await raw.all(`select * from ${t.name}`));
      await raw.close();
      expect(backups.length).toBeGreaterThanOrEqual(3);
      // Every key the API process derives from its master key (and the master key itself).
      const apiKeys = [...env.rt.keys.sealKeys, { keyId: backups[0]!.key_id, key: Buffer.from(env.masterKey, "hex") }];
      const sdKey = { keyId: backups[0]!.key_id, key: Buffer.from(readFileSync(path.join(sdir, "sealing.key"), "utf8").trim(), "hex") };
      const files = filesUnder(env.dir).map((f) => readFileSync(f));
      for (const b of backups) {
        const r = ids.find((i) => i.id === b.identity_id)!;
        const ctx = { user: r.user_id, identityId: r.id, curve: r.curve };
        for (const k of apiKeys) expect(() => openSealedKey([{ ...k, keyId: b.key_id }], ctx, b.sealed_key)).toThrow();
        const sk = openSealedKey([sdKey], ctx, b.sealed_key).privateKey;
        // The plaintext key is nowhere in the API's rows or files, in hex or raw bytes.
        expect(dump).not.toContain(sk.toString("hex"));
        expect(dump).not.toContain(sk.toString("base64"));
        for (const f of files) expect(f.includes(sk)).toBe(false);
      }
    });

    it("destroying an identity drops its key from signerd too: signerd no longer signs with it, even asked directly", async () => {
      const doomed = await create("secp256k1");
      expect((await signFlow(doomed.id, { kind: "eip191", message: "last words" })).status).toBe(200);
      const [row] = await (async () => {
        const raw = await env.raw();
        try {
          return await raw.all<{ user_id: string; public_key: string }>("select user_id, public_key from identities where id = ?", doomed.id);
        } finally {
          await raw.close();
        }
      })();
      const direct = () =>
        signerdCall("POST", "/v1/sign", { user: row!.user_id, identity_id: doomed.id, curve: "secp256k1", public_key: row!.public_key, input: "11".repeat(32) });
      expect((await direct()).status).toBe(200);
      const held = async () => (await signerdCall("GET", `/v1/attestation?nonce=${randomBytes(16).toString("hex")}`)).body.keys_held as number;
      const before = await held();
      expect((await call(alice, "DELETE", `/v1/identities/${doomed.id}`)).status).toBe(200);
      expect(await held()).toBe(before - 1);
      const after = await direct();
      expect([after.status, (after.body.error as { code: string }).code]).toEqual([404, "not_found"]);
    });

    it("a worker-mode node cannot take an enclave key in: restore answers 409 sealed_key_incompatible", async () => {
      const id = await create("secp256k1");
      const worker = await startSecondNode(env, NO_LIMITS);
      try {
        const r = await call(alice, "POST", `/v1/identities/${id.id}/restore`, undefined, worker.app);
        expect([r.status, code(r)]).toEqual([409, "sealed_key_incompatible"]);
      } finally {
        await worker.close();
      }
    });

    it("signerd killed -9 under load: signing resumes once it is back, the API restoring every key from its backup", async () => {
      const ids = await Promise.all([create("secp256k1"), create("ed25519"), create("secp256k1")]);
      const evmMsg = (n: number) => ({ kind: "eip191", message: `load ${n}` });
      const solMsg = (addr: string) => {
        const data = Buffer.alloc(12);
        data.writeUInt32LE(2, 0);
        data.writeBigUInt64LE(1n, 4);
        return { kind: "solana_message", message: Buffer.concat([Buffer.from([1, 0, 1, 3]), base58.decode(addr), randomBytes(32), Buffer.alloc(32), randomBytes(32), Buffer.from([1, 2, 2, 0, 1, 12]), data]).toString("base64") };
      };
      const one = (n: number) => {
        const i = ids[n % 3]!;
        return signFlow(i.id, n % 3 === 1 ? solMsg(i.address) : evmMsg(n));
      };
      const results: { status: number; body: Json; phase: string }[] = [];
      let phase = "before";
      let stop = false;
      const workers = Array.from({ length: 6 }, async (_, w) => {
        for (let n = w; !stop; n += 6) results.push({ ...(await one(n)), phase });
      });
      // Waits on what happened, not on the clock: a loaded CI host signs slowly.
      const until = async (cond: () => boolean, what: string) => {
        for (const end = Date.now() + 30_000; !cond(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      };
      await until(() => results.length >= 6, "six signatures before the kill");
      signerd.proc.kill("SIGKILL");
      phase = "down";
      await new Promise((r) => setTimeout(r, 300));
      signerd = await startSignerd(sdir);
      phase = "after";
      await until(() => results.filter((r) => r.phase === "after" && r.status === 200).length >= 3, "three signatures after the restart");
      stop = true;
      await Promise.all(workers);
      const before = results.filter((r) => r.phase === "before");
      expect(before.length).toBeGreaterThan(5);
      expect(before.every((r) => r.status === 200)).toBe(true);
      // While it is down, a refusal is `unavailable`, never a wrong or missing signature.
      for (const r of results.filter((x) => x.status !== 200)) expect(code(r)).toBe("unavailable");
      // Every identity signs again, each restored from its backup into the new signerd.
      for (let n = 0; n < 3; n++) {
        const r = await one(n);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
      }
      expect(verifyMessage("load 0", ((await one(0)) as { body: Json }).body.signature as string)).toBe(ids[0]!.address);
      expect(results.filter((r) => r.phase === "after" && r.status === 200).length).toBeGreaterThan(0);
    });

    it("a signerd that is not allowlisted, or a wrong INTERNAL_API_KEY, signs nothing", async () => {
      const id = await create("secp256k1");
      const msg = { kind: "eip191", message: "should not sign" };
      for (const [extra, want] of [
        [{ SIGNERD_MEASUREMENTS: "00".repeat(32) }, "signer_untrusted"],
        [{ SIGNERD_ATTESTATION_KEY: "11".repeat(32) }, "signer_untrusted"],
        [{ INTERNAL_API_KEY: "x".repeat(40) }, "unavailable"],
      ] as const) {
        const { app, close } = await startSecondNode(env, { ...enclaveEnv, ...extra });
        try {
          const i = await call(alice, "POST", `/v1/identities/${id.id}/sign-intent`, { payload: msg });
          const r = await call(alice, "POST", `/v1/identities/${id.id}/sign`, { ticket: i.body.ticket, payload: msg }, app);
          expect(code(r), JSON.stringify(r.body)).toBe(want);
          expect(r.body.signature).toBeUndefined();
          const c = await call(alice, "POST", "/v1/identities", { curve: "secp256k1" }, app);
          expect(code(c)).toBe(want);
        } finally {
          await close();
        }
      }
    });
  });
}
