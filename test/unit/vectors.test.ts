import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { EnvelopeError, encodeAad, open, type AadContext } from "../../src/crypto/envelope.js";
import { derivePurposeKey, PURPOSES, type Purpose } from "../../src/crypto/hkdf.js";
import { kekFromMaster, createKeyring } from "../../src/keys/keyring.js";
import { loadMasterKey } from "../../src/keys/master.js";
import { eventHash, eventMac, headMac, verifyChain, type StoredEvent } from "../../src/audit/chain.js";
import { createAuditLog } from "../../src/audit/log.js";
import { blobKey } from "../../src/vault/secrets.js";
import { assertBlobKey } from "../../src/store/blobs/port.js";
import { migrateToLatest, openSqlite, type MetaStore } from "../../src/store/meta/index.js";
import { createUserService, userRowMac } from "../../src/users/users.js";
import { grantRowMac } from "../../src/agents/support.js";
import { redact } from "../../src/redacted.js";
import { argon2idRoot, passwordKeys } from "../../src/crypto/password-kdf.js";
import { openSealedKey, sealingKeyId } from "../../src/signer/sealed-key.js";
import { verifyTicket } from "../../src/signer/tickets.js";
import { identityRowMac } from "../../src/signer/identities.js";
import { policyRowMac } from "../../src/signer/guards.js";
import { attestationMessage } from "../../src/signer/daemon.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { parsePolicy } from "../../src/signer/policy.js";
import { canonicalJson } from "../../src/signer/payloads.js";
import { buildVectors, renderVector, VECTOR_DIR } from "../../scripts/gen-vectors.js";

// Every committed vector (test/vectors/*.json, made by scripts/gen-vectors.ts from the spec in
// docs/formats.md, without importing src/) is checked against the real code here.

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const files = readdirSync(VECTOR_DIR).filter((f) => f.endsWith(".json")).sort();
const load = (name: string): Any => JSON.parse(readFileSync(path.join(VECTOR_DIR, name), "utf8")) as Any;
const buf = (h: string) => Buffer.from(h, "hex");
const ofFormat = (prefix: string) => files.filter((f) => f.startsWith(prefix));

describe("test vectors", () => {
  it("the committed files are exactly what scripts/gen-vectors.ts produces", () => {
    const built = buildVectors();
    expect(files).toEqual(Object.keys(built).map((n) => `${n}.json`).sort());
    for (const [name, v] of Object.entries(built)) {
      expect(readFileSync(path.join(VECTOR_DIR, `${name}.json`), "utf8"), name).toBe(renderVector(v));
    }
  });

  it("every vector says what to expect", () => {
    for (const f of files) expect(typeof load(f).expect, f).toBe("string");
  });

  describe.each([...ofFormat("secret-envelope-"), ...ofFormat("dek-envelope-")])("%s", (file) => {
    const v = load(file);
    const ctx = v.context as AadContext;
    it(`open() gives ${v.expect}`, () => {
      if (v.expect === "ok") {
        expect(open(buf(v.key_hex), buf(v.envelope_hex), ctx).toString("hex")).toBe(v.plaintext_hex);
        expect(encodeAad(buf(v.envelope_hex).subarray(0, 4), ctx).toString("hex")).toBe(v.aad_hex);
        expect(buf(v.envelope_hex).subarray(4, 16).toString("hex")).toBe(v.nonce_hex);
      } else {
        let err: unknown;
        try {
          open(buf(v.key_hex), buf(v.envelope_hex), ctx);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(EnvelopeError);
        expect((err as EnvelopeError).reason).toBe(v.expect);
      }
    });
  });

  it("hkdf-purpose-keys: derivePurposeKey and the key id", () => {
    const v = load("hkdf-purpose-keys.json");
    const master = buf(v.master_key_hex);
    expect(Object.keys(v.keys).sort()).toEqual(Object.keys(PURPOSES).sort());
    for (const [purpose, k] of Object.entries(v.keys as Record<string, { info: string; key_hex: string }>)) {
      expect(PURPOSES[purpose as Purpose]).toBe(k.info);
      expect(derivePurposeKey(master, purpose as Purpose).toString("hex"), purpose).toBe(k.key_hex);
    }
    const kek = kekFromMaster(master);
    expect(kek.keyId).toBe(v.key_id);
    expect(kek.kek.toString("hex")).toBe(v.keys.kek.key_hex);
  });

  it("audit-event: eventHash, eventMac and headMac", () => {
    const v = load("audit-event.json");
    const key = buf(v.audit_key_hex);
    expect(key.toString("hex")).toBe(load("hkdf-purpose-keys.json").keys.audit.key_hex);
    expect(eventHash(v.event)).toBe(v.hash);
    expect(eventMac(key, v.hash)).toBe(v.mac);
    expect(headMac(key, v.event.seq, v.hash)).toBe(v.head_mac);
  });

  describe.each(ofFormat("audit-chain-"))("%s", (file) => {
    it("verifyChain gives the expected verdict", async () => {
      const v = load(file);
      async function* events(): AsyncGenerator<StoredEvent> {
        yield* v.events as StoredEvent[];
      }
      const r = await verifyChain(buf(v.audit_key_hex), events(), v.head, true);
      if (v.expect === "ok") {
        expect(r).toEqual({ ok: true, count: v.events.length });
      } else {
        expect(r.ok).toBe(false);
        if (!r.ok) {
          expect(r.seq).toBe(v.fail_seq);
          expect(r.reason).toContain(v.reason_contains);
        }
      }
    });
  });

  it("password-mode: Argon2id, the derived key and verifier, and both envelope layers", async () => {
    const v = load("password-mode.json");
    const root = await argon2idRoot(v.password, Buffer.from(v.salt_base64, "base64"), { memoryKib: v.kdf.memory_kib, iterations: v.kdf.iterations, parallelism: v.kdf.parallelism });
    expect(root.toString("hex")).toBe(v.argon2id_hex);
    const { key, verifier } = passwordKeys(root, v.user_id);
    expect(key.toString("hex")).toBe(v.key_hex);
    expect(verifier).toBe(v.verifier);
    const inner = open(buf(v.dek_hex), buf(v.outer_envelope_hex), v.outer_context);
    expect(inner.toString("hex")).toBe(v.inner_envelope_hex);
    expect(encodeAad(inner.subarray(0, 4), v.context).toString("hex")).toBe(v.aad_hex);
    expect(open(key, inner, v.context).toString("hex")).toBe(v.plaintext_hex);
    // The epoch DEK alone, or the password key bound to another version, opens nothing.
    expect(() => open(buf(v.dek_hex), inner, v.context)).toThrow(EnvelopeError);
    expect(() => open(key, inner, { ...v.context, version: v.context.version + 1 })).toThrow(EnvelopeError);
  });

  it("blob-key: blobKey() builds the key and the store accepts it", () => {
    const v = load("blob-key.json");
    expect(blobKey(v.user, v.agent, v.epoch, v.blob_id)).toBe(v.key);
    expect(() => assertBlobKey(v.key)).not.toThrow();
  });

  describe("against a real meta store", () => {
    let meta: MetaStore;
    beforeAll(async () => {
      meta = openSqlite(":memory:");
      await migrateToLatest(meta);
    });
    afterAll(async () => {
      await meta.close();
    });

    it("api-token: the stored keyed digests authenticate the token; one changed character, or a row re-pointed at another user, does not", async () => {
      const v = load("api-token.json");
      expect(v.token).toMatch(/^ck_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(v.token.slice(3), "base64url").toString("hex")).toBe(v.random_hex);
      const now = new Date().toISOString();
      const rows = load("row-macs.json");
      await meta.db.insertInto("users").values({ ...rows.user, created_at: now, mac: rows.user_mac }).execute();
      await meta.db
        .insertInto("tokens")
        .values({ id: v.token_id, user_id: v.user_id, token_hash: v.token_hash, mac: v.mac, name: "v", created_at: now, expires_at: null, revoked_at: null })
        .execute();
      const audit = createAuditLog({ db: meta.db, dialect: "sqlite", keys: [{ id: "k", key: Buffer.alloc(32) }], durable: () => meta.durable() });
      const tokenKey = derivePurposeKey(Buffer.from(Array.from({ length: 32 }, (_, i) => i)), "token");
      const rowKey = derivePurposeKey(Buffer.from(Array.from({ length: 32 }, (_, i) => i)), "row");
      const users = createUserService({ db: meta.db, durable: () => meta.durable(), audit, tokenKeys: [tokenKey], rowKeys: [rowKey] });
      const p = await users.authenticate(v.token, "127.0.0.1");
      expect(p).toMatchObject({ userId: "usr_tok", isAdmin: true });
      const other = v.token.slice(0, -1) + (v.token.endsWith("A") ? "B" : "A");
      await expect(users.authenticate(other, "127.0.0.1")).rejects.toMatchObject({ code: "unauthorized" });
      await meta.db.insertInto("users").values({ id: "usr_victim", name: "victim", is_admin: 0, created_at: now, mac: "" }).execute();
      await meta.db.updateTable("tokens").set({ user_id: "usr_victim" }).where("id", "=", v.token_id).execute();
      await expect(users.authenticate(v.token, "127.0.0.1")).rejects.toMatchObject({ code: "unauthorized" });
    });

    it("signer: the sealed key opens in both formats, the ticket verifies until it expires, the row MAC matches", async () => {
      const v = load("signer.json");
      const keys = load("hkdf-purpose-keys.json").keys;
      expect(v.seal_key_hex).toBe(keys.seal.key_hex);
      expect(v.ticket_key_hex).toBe(keys.ticket.key_hex);
      const ctx = { user: v.context.user, identityId: v.context.identityId, curve: v.context.curve };
      const sealKey = { keyId: v.key_id, key: buf(v.seal_key_hex) };
      expect(openSealedKey([sealKey], ctx, v.sealed_ck_sk1)).toMatchObject({ format: "ck-sk1", primary: true });
      expect(openSealedKey([sealKey], ctx, v.sealed_ck_sk1).privateKey.toString("hex")).toBe(v.private_key_hex);
      expect(() => openSealedKey([sealKey], { ...ctx, identityId: "idn_99999999999999999999" }, v.sealed_ck_sk1)).toThrow(/integrity/);
      const worker = { keyId: sealingKeyId(buf(v.worker_sealing_key_hex)), key: buf(v.worker_sealing_key_hex) };
      expect(openSealedKey([worker], ctx, v.sealed_worker_v0).privateKey.toString("hex")).toBe(v.private_key_hex);
      expect(() => openSealedKey([sealKey], ctx, v.sealed_worker_v0)).toThrow(/cannot be opened/);
      expect(await verifyTicket([buf(v.ticket_key_hex)], v.ticket, (v.ticket_claims.iat + 1) * 1000)).toEqual(v.ticket_claims);
      await expect(verifyTicket([buf(v.ticket_key_hex)], v.ticket, v.ticket_claims.exp * 1000)).rejects.toThrow(/expired/);
      await expect(verifyTicket([buf(v.ticket_key_hex)], v.ticket.slice(0, -1) + (v.ticket.endsWith("A") ? "B" : "A"), (v.ticket_claims.iat + 1) * 1000)).rejects.toThrow(/does not verify/);
      expect(identityRowMac(buf(keys.row.key_hex), v.identity_row)).toBe(v.identity_row_mac);
      expect(policyRowMac(buf(keys.row.key_hex), { identity_id: v.context.identityId, policy: v.policy_json })).toBe(v.policy_row_mac);
      // signerd's attestation: the message the API checks, under the key it pins.
      const a = v.signerd_attestation;
      expect(ed25519.verify(buf(a.signature), attestationMessage(a.measurement, a.boot_id, a.nonce), buf(a.attestation_key))).toBe(true);
      expect(Buffer.from(ed25519.getPublicKey(buf(a.attestation_secret_hex))).toString("hex")).toBe(a.attestation_key);
      expect(ed25519.verify(buf(a.signature), attestationMessage(a.measurement, a.boot_id, `${a.nonce}00`), buf(a.attestation_key))).toBe(false);
      // The stored form is the canonical JSON of the normalised policy.
      expect(canonicalJson(parsePolicy(JSON.parse(v.policy_json), "secp256k1"))).toBe(v.policy_json);
    });

    it("row-macs: userRowMac and grantRowMac give the committed MACs under the row purpose key", () => {
      const v = load("row-macs.json");
      const key = buf(v.row_key_hex);
      expect(key.toString("hex")).toBe(load("hkdf-purpose-keys.json").keys.row.key_hex);
      expect(userRowMac(key, v.user)).toBe(v.user_mac);
      expect(grantRowMac(key, v.grant)).toBe(v.grant_mac);
      expect(userRowMac(key, { ...v.user, is_admin: 0 })).not.toBe(v.user_mac);
      expect(grantRowMac(key, { ...v.grant, expires_at: "2026-01-09T03:04:05.678Z" })).not.toBe(v.grant_mac);
    });

    it("dek-envelope-ok: the keyring unwraps the stored base64 into the DEK", async () => {
      const v = load("dek-envelope-ok.json");
      expect(Buffer.from(v.stored_base64, "base64").toString("hex")).toBe(v.envelope_hex);
      await meta.db.insertInto("users").values({ id: v.context.user, name: "dek", is_admin: 0, created_at: "x", mac: "" }).execute();
      await meta.db
        .insertInto("user_epochs")
        .values({ user_id: v.context.user, epoch: v.context.epoch, wrapped_dek: v.stored_base64, key_id: v.key_id, state: "active", seal_count: 0, created_at: "x" })
        .execute();
      const keyring = createKeyring({ masters: [kekFromMaster(buf(v.master_key_hex))], cacheSeconds: 0, cacheMax: 0 });
      try {
        expect((await keyring.dek(meta.db, v.context.user, v.context.epoch)).toString("hex")).toBe(v.plaintext_hex);
      } finally {
        keyring.close();
      }
      // …and it is the DEK that opens secret-envelope-ok.
      expect(v.plaintext_hex).toBe(load("secret-envelope-ok.json").key_hex);
    });
  });

  it("master-key-file: loadMasterKey reads the file into the master key", () => {
    const v = load("master-key-file.json");
    const dir = mkdtempSync(path.join(tmpdir(), "ck-vec-"));
    try {
      const file = path.join(dir, "master.key");
      writeFileSync(file, v.file_text);
      chmodSync(file, Number.parseInt(v.mode, 8));
      const m = loadMasterKey({ masterKey: undefined, dataDir: dir }, { create: false });
      expect(m.key.toString("hex")).toBe(v.master_key_hex);
      expect(kekFromMaster(m.key).keyId).toBe(v.key_id);
      // The same bytes given through CLAWKEEP_MASTER_KEY load identically.
      expect(loadMasterKey({ masterKey: redact(v.file_text.trim()), dataDir: dir }, { create: false }).key.toString("hex")).toBe(v.master_key_hex);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the hex quoted in docs/formats.md is the committed vectors' hex", () => {
    const doc = readFileSync(path.join(VECTOR_DIR, "..", "..", "docs", "formats.md"), "utf8");
    const squashed = doc.replace(/\s+/g, "");
    const hkdf = load("hkdf-purpose-keys.json");
    const audit = load("audit-event.json");
    const token = load("api-token.json");
    const signer = load("signer.json");
    const quoted = [
      signer.sealed_ck_sk1,
      signer.sealed_worker_v0,
      signer.identity_row_mac,
      signer.policy_row_mac,
      signer.signerd_attestation.signature,
      signer.ticket,
      load("secret-envelope-ok.json").envelope_hex,
      load("dek-envelope-ok.json").envelope_hex,
      load("dek-envelope-ok.json").stored_base64,
      ...Object.values(hkdf.keys as Record<string, { key_hex: string }>).map((k) => k.key_hex),
      audit.hash,
      audit.mac,
      audit.head_mac,
      token.token,
      token.token_hash,
      load("row-macs.json").user_mac,
      load("row-macs.json").grant_mac,
      load("password-mode.json").verifier,
      load("password-mode.json").inner_envelope_hex,
      load("blob-key.json").key,
      load("master-key-file.json").file_text.trim(),
    ];
    for (const q of quoted) expect(squashed, q).toContain(q);
  });
});
