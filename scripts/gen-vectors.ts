// Generates the test vectors under test/vectors/ from FIXED inputs.
//
// This file deliberately imports nothing from src/: it re-implements every format from its
// description in docs/formats.md with node:crypto alone, so that test/unit/vectors.test.ts,
// which checks the committed vectors against the real code, compares two independent readings
// of the spec. It also lets us pick the nonce (the real seal() never lets a caller do that).
//
//   node --import tsx scripts/gen-vectors.ts     # rewrites test/vectors/*.json
import { createCipheriv, createHash, createHmac, createPrivateKey, createPublicKey, hkdfSync, sign } from "node:crypto";
// Node 20's crypto has no Argon2id: the vector uses noble's pure-JS one, while the server uses the
// native argon2 binding, so the two still meet only through the spec.
import { argon2id } from "@noble/hashes/argon2.js";
import { mkdirSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const seq = (start: number, n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));

// ---- fixed inputs -------------------------------------------------------------------------
export const MASTER = seq(0x00, 32); // 00 01 02 … 1f
const DEK = seq(0xa0, 32); // a0 a1 … bf
const SECRET_NONCE = seq(0x10, 12);
const DEK_NONCE = seq(0x30, 12);
const TOKEN_BYTES = seq(0x60, 32);
const PLAINTEXT = Buffer.from("sk-test-0123456789", "utf8");
const USER = "usr_00112233445566778899";
const SECRET_CTX = { kind: "secret", user: USER, agent: "billing-bot", name: "OPENAI_API_KEY", version: 3, epoch: 2, blobId: "00112233445566778899aabbccddeeff" } as const;
const DEK_CTX = { kind: "dek", user: USER, epoch: 2 } as const;

// ---- HKDF purpose keys (RFC 5869, SHA-256, empty salt, 32 bytes) --------------------------
const INFO = {
  kek: "clawkeep/kek/v1",
  audit: "clawkeep/audit/v1",
  session: "clawkeep/session/v1",
  seal: "clawkeep/seal/v1",
  keyId: "clawkeep/key-id/v1",
  checkpoint: "clawkeep/checkpoint/v1",
  agentSecret: "clawkeep/agent-secret/v1",
  token: "clawkeep/token/v1",
  row: "clawkeep/row-mac/v1",
  ticket: "clawkeep/ticket/v1",
} as const;
const hkdf = (info: string): Buffer => Buffer.from(hkdfSync("sha256", MASTER, Buffer.alloc(0), info, 32));
const KEK = hkdf(INFO.kek);
const AUDIT_KEY = hkdf(INFO.audit);
const KEY_ID = hkdf(INFO.keyId).subarray(0, 8).toString("hex");

// ---- envelope v1 ---------------------------------------------------------------------------
type SecretCtx = { kind: "secret"; user: string; agent: string; name: string; version: number; epoch: number; blobId: string };
type DekCtx = { kind: "dek"; user: string; epoch: number };
type PasswordCtx = { kind: "password-secret"; user: string; agent: string; name: string; version: number };
type SigningKeyCtx = { kind: "signing-key"; user: string; identityId: string; curve: string };
type Ctx = SecretCtx | DekCtx | PasswordCtx | SigningKeyCtx;

const header = (ctx: Ctx): Buffer => Buffer.from([0x43, 0x4b, { secret: 0x53, dek: 0x44, "password-secret": 0x50, "signing-key": 0x4b }[ctx.kind], 0x01]);

function aad(ctx: Ctx): Buffer {
  const items =
    ctx.kind === "secret"
      ? ["clawkeep/secret/v1", ctx.user, ctx.agent, ctx.name, String(ctx.version), String(ctx.epoch), ctx.blobId]
      : ctx.kind === "password-secret"
        ? ["clawkeep/password-secret/v1", ctx.user, ctx.agent, ctx.name, String(ctx.version)]
        : ctx.kind === "signing-key"
          ? ["clawkeep/signing-key/v1", ctx.user, ctx.identityId, ctx.curve]
          : ["clawkeep/dek/v1", ctx.user, String(ctx.epoch)];
  const out: Buffer[] = [header(ctx)];
  for (const s of items) {
    const b = Buffer.from(s, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    out.push(len, b);
  }
  return Buffer.concat(out);
}

function sealWith(key: Buffer, nonce: Buffer, pt: Buffer, ctx: Ctx): Buffer {
  const c = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
  c.setAAD(aad(ctx));
  const ct = Buffer.concat([c.update(pt), c.final()]);
  return Buffer.concat([header(ctx), nonce, ct, c.getAuthTag()]);
}

// ---- audit chain v1 ------------------------------------------------------------------------
interface Ev {
  seq: number;
  time: string;
  user_id: string | null;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  metadata: string;
  prev_hash: string;
}
const GENESIS = "0".repeat(64);
const hashInput = (e: Ev): string =>
  `clawkeep/audit/v1\n${JSON.stringify([e.seq, e.time, e.user_id, e.actor, e.action, e.target, e.outcome, e.metadata, e.prev_hash])}`;
const evHash = (e: Ev): string => createHash("sha256").update(hashInput(e), "utf8").digest("hex");
const hmac = (s: string): string => createHmac("sha256", AUDIT_KEY).update(s, "utf8").digest("hex");
const evMac = (h: string): string => hmac(`event|${h}`);
const hdMac = (n: number, h: string): string => hmac(`head|${n}|${h}`);

function chain(events: Omit<Ev, "seq" | "prev_hash">[]) {
  let prev = GENESIS;
  const out = events.map((e, i) => {
    const full: Ev = { ...e, seq: i + 1, prev_hash: prev };
    const h = evHash(full);
    prev = h;
    return { ...full, hash: h, mac: evMac(h) };
  });
  return { events: out, head: { seq: out.length, hash: prev, mac: hdMac(out.length, prev) } };
}

// ---- the vectors ---------------------------------------------------------------------------
type Vector = Record<string, unknown> & { description: string; expect: string };

function secretCase(description: string, expect: string, envelope: Buffer, ctx: SecretCtx, key = DEK): Vector {
  return {
    format: "clawkeep secret envelope v1 ('CK' 'S' 0x01)",
    description,
    expect,
    key_hex: hex(key),
    context: ctx,
    plaintext_hex: expect === "ok" ? hex(PLAINTEXT) : null,
    envelope_hex: hex(envelope),
  };
}

// ---- Audit checkpoint v1: RFC 6962 tree hash + ed25519 signature (deterministic) -----------
function checkpointVector(): Vector {
  const seed = hkdf(INFO.checkpoint);
  const events = ["a", "b", "c"].map((x) => createHash("sha256").update(x).digest("hex"));
  const leaf = (h: string) => createHash("sha256").update(Buffer.concat([Buffer.from([0]), Buffer.from(h, "hex")])).digest();
  const node = (l: Buffer, r: Buffer) => createHash("sha256").update(Buffer.concat([Buffer.from([1]), l, r])).digest();
  // Three leaves: MTH = H(0x01 || H(0x01 || L0 || L1) || L2), L = H(0x00 || event hash).
  const root = node(node(leaf(events[0]!), leaf(events[1]!)), leaf(events[2]!)).toString("hex");
  const time = "2026-01-02T03:04:05.678Z";
  const message = `clawkeep/checkpoint/v1\n3\n${root}\n${events[2]}\n${time}\n`;
  const key = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
  const publicKey = createPublicKey(key).export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
  return {
    format: "clawkeep audit checkpoint v1",
    description: "A checkpoint over three event hashes, signed by the checkpoint key of the fixed master key.",
    expect: "ok",
    master_key_hex: hex(MASTER),
    event_hashes: events,
    message,
    checkpoint: { format: "clawkeep-checkpoint", version: 1, size: 3, root, head: events[2], time, public_key: publicKey, signature: sign(null, Buffer.from(message), key).toString("base64") },
  };
}

// ---- Row MACs v1 (migration 0007): users' admin flag and support grants ----------------------
function rowMacVector(): Vector {
  const key = hkdf(INFO.row);
  const mac = (s: string) => createHmac("sha256", key).update(s, "utf8").digest("hex");
  const user = { id: "usr_tok", name: "tok", is_admin: 1 };
  const grant = {
    id: "grt_00112233445566778899",
    agent_id: "agt_00112233445566778899",
    user_id: USER,
    operator: "support",
    public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO7Mqm9pC8Vt0XbVWa0Zq1oNq3kq4oV7dZ6kB2kZ8Y1a",
    created_at: "2026-01-02T03:04:05.678Z",
    expires_at: "2026-01-03T03:04:05.678Z",
  };
  return {
    format: "clawkeep row MACs v1 (since migration 0007)",
    description: "The MAC of an admin users row and of a support grant under the row purpose key of the fixed master key.",
    expect: "ok",
    row_key_hex: hex(key),
    user,
    user_mac_input: `clawkeep/user-row/v1\n${user.id}\n${user.name}\n${user.is_admin}`,
    user_mac: mac(`clawkeep/user-row/v1\n${user.id}\n${user.name}\n${user.is_admin}`),
    grant,
    grant_mac: mac(`clawkeep/support-grant/v1\n${grant.id}\n${grant.agent_id}\n${grant.user_id}\n${grant.operator}\n${grant.public_key}\n${grant.created_at}\n${grant.expires_at}`),
  };
}

// ---- signerd attestation (formats §22): ed25519 over (measurement, boot id, nonce) --------------
function signerdAttestation() {
  const seed = seq(0x90, 32);
  const key = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
  const attestationKey = createPublicKey(key).export({ format: "der", type: "spki" }).subarray(-32).toString("hex");
  const measurement = "ab".repeat(32);
  const bootId = "00112233445566778899aabb";
  const nonce = "0f".repeat(16);
  const message = `clawkeep/signerd-attestation/v1\n${measurement}\n${bootId}\n${nonce}`;
  return { attestation_secret_hex: hex(seed), attestation_key: attestationKey, measurement, boot_id: bootId, nonce, signature: sign(null, Buffer.from(message), key).toString("hex") };
}

// ---- Signer: sealed keys, sign tickets, identity rows (formats §19, §20) ---------------------
function signerVector(): Vector {
  const identityId = "idn_00112233445566778899";
  const privateKey = seq(0x01, 32);
  const ctx: SigningKeyCtx = { kind: "signing-key", user: USER, identityId, curve: "secp256k1" };
  const env = sealWith(hkdf(INFO.seal), seq(0x50, 12), privateKey, ctx);
  // The seed's worker format under an explicit WORKER_SEALING_KEY: {iv}:{ciphertext+tag}, base64,
  // the plaintext being the key's hex.
  const workerKey = seq(0xc0, 32);
  const iv = seq(0x70, 12);
  const c = createCipheriv("aes-256-gcm", workerKey, iv, { authTagLength: 16 });
  const ct = Buffer.concat([c.update(Buffer.from(hex(privateKey), "utf8")), c.final(), c.getAuthTag()]);
  const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const claims = { sub: identityId, uid: USER, knd: "eip191", ph: "aa".repeat(32), vh: "bb".repeat(32), jti: "AAECAwQFBgcICQoLDA0ODw", iat: 1767225600, exp: 1767225900 };
  const body = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}`;
  const ticket = `${body}.${createHmac("sha256", hkdf(INFO.ticket)).update(body).digest("base64url")}`;
  const row = { id: identityId, user_id: USER, agent_id: null, curve: "secp256k1", public_key: "04…", address: "0x…", allow_blind: 0 };
  // A policy row (formats §21): the canonical JSON of the normalised policy, MAC'd with the identity id.
  const policy = `{"allowed_recipients":["0x00000000000000000000000000000000000000AA"],"max_value_per_tx":"1000000000000000000","rolling_limit":{"max_value":"3000000000000000000","window_seconds":86400}}`;
  const rowInput = `clawkeep/identity-row/v1\n${row.id}\n${row.user_id}\n\n${row.curve}\n${row.public_key}\n${row.address}\n${row.allow_blind}`;
  return {
    format: "clawkeep signer v1: sealed key ck-sk1, seed worker format, sign ticket, identity row MAC, policy row MAC",
    description: "A secp256k1 private key (bytes 0x01..0x20) sealed for identity idn_00112233445566778899 under the seal purpose key of the fixed master key (nonce 0x50..0x5b), the same key in the seed's worker format under WORKER_SEALING_KEY c0c1…df (IV 0x70..0x7b), a sign ticket under the ticket purpose key, the MAC of an identity row, and the MAC of a policy row.",
    expect: "ok",
    private_key_hex: hex(privateKey),
    context: ctx,
    seal_key_hex: hex(hkdf(INFO.seal)),
    key_id: KEY_ID,
    sealed_ck_sk1: `ck-sk1.${KEY_ID}.${env.toString("base64url")}`,
    worker_sealing_key_hex: hex(workerKey),
    sealed_worker_v0: `${iv.toString("base64")}:${ct.toString("base64")}`,
    ticket_key_hex: hex(hkdf(INFO.ticket)),
    ticket_claims: claims,
    ticket,
    identity_row: row,
    identity_row_mac: createHmac("sha256", hkdf(INFO.row)).update(rowInput).digest("hex"),
    signerd_attestation: signerdAttestation(),
    policy_json: policy,
    policy_row_mac: createHmac("sha256", hkdf(INFO.row)).update(`clawkeep/identity-policy/v1\n${identityId}\n${policy}`).digest("hex"),
  };
}

// ---- Password-derived mode v1 (formats §17) --------------------------------------------------
function passwordModeVector(): Vector {
  const password = "correct horse battery staple";
  const salt = seq(0x70, 16);
  const params = { memory_kib: 65536, iterations: 3, parallelism: 4 };
  const root = Buffer.from(argon2id(Buffer.from(password.normalize("NFC"), "utf8"), salt, { m: params.memory_kib, t: params.iterations, p: params.parallelism, dkLen: 32 }));
  const expand = (info: string) => Buffer.from(hkdfSync("sha256", root, Buffer.alloc(0), info, 32));
  const key = expand("clawkeep/credential-password/key/v1");
  const verifier = createHmac("sha256", expand("clawkeep/credential-password/verifier/v1")).update(`clawkeep/credential-password/verifier/v1\n${USER}`, "utf8").digest("hex");
  const ctx: PasswordCtx = { kind: "password-secret", user: USER, agent: SECRET_CTX.agent, name: SECRET_CTX.name, version: SECRET_CTX.version };
  const nonce = seq(0x50, 12);
  const inner = sealWith(key, nonce, PLAINTEXT, ctx);
  return {
    format: "clawkeep password-derived mode v1 (envelope kind 'P' inside kind 'S')",
    description: "A credential password through Argon2id, the sealing key and verifier HKDF'd from it, a value sealed under that key, and that envelope sealed as the plaintext of secret-envelope-ok's context.",
    expect: "ok",
    password,
    salt_base64: salt.toString("base64"),
    kdf: params,
    user_id: USER,
    argon2id_hex: hex(root),
    key_hex: hex(key),
    verifier,
    context: ctx,
    nonce_hex: hex(nonce),
    aad_hex: hex(aad(ctx)),
    plaintext_hex: hex(PLAINTEXT),
    inner_envelope_hex: hex(inner),
    dek_hex: hex(DEK),
    outer_context: SECRET_CTX,
    outer_envelope_hex: hex(sealWith(DEK, SECRET_NONCE, inner, SECRET_CTX)),
  };
}

export function buildVectors(): Record<string, Vector> {
  const secretEnv = sealWith(DEK, SECRET_NONCE, PLAINTEXT, SECRET_CTX);
  const dekEnv = sealWith(KEK, DEK_NONCE, DEK, DEK_CTX);
  const v2 = Buffer.from(secretEnv);
  v2[3] = 0x02;

  const audit = chain([
    { time: "2026-01-02T03:04:05.678Z", user_id: USER, actor: USER, action: "EpochCreated", target: "epoch/2", outcome: "success", metadata: "{}" },
    {
      time: "2026-01-02T03:04:05.701Z",
      user_id: USER,
      actor: USER,
      action: "BlobWritten",
      target: "billing-bot/OPENAI_API_KEY",
      outcome: "success",
      metadata: JSON.stringify({ version: 3, epoch: 2, blob_id: SECRET_CTX.blobId, sha256: createHash("sha256").update(secretEnv).digest("hex"), size: PLAINTEXT.length }),
    },
  ]);
  const first = audit.events[0]!;
  const edited = structuredClone(audit);
  edited.events[1]!.target = "billing-bot/OTHER";

  const token = `ck_${TOKEN_BYTES.toString("base64url")}`;

  return {
    "secret-envelope-ok": {
      ...secretCase("A secret value sealed under an epoch DEK; opens with the same context.", "ok", secretEnv, SECRET_CTX),
      nonce_hex: hex(SECRET_NONCE),
      aad_hex: hex(aad(SECRET_CTX)),
    },
    "secret-envelope-wrong-aad": secretCase(
      "The envelope of secret-envelope-ok, opened with version 4 instead of 3 (a pointer swapped onto another version).",
      "auth_failed",
      secretEnv,
      { ...SECRET_CTX, version: 4 },
    ),
    "secret-envelope-wrong-blob-id": secretCase(
      "The envelope of secret-envelope-ok, opened under another blob id (a blob copied to another key).",
      "auth_failed",
      secretEnv,
      { ...SECRET_CTX, blobId: "ffeeddccbbaa99887766554433221100" },
    ),
    "secret-envelope-wrong-key": secretCase("The envelope of secret-envelope-ok, opened with another epoch's DEK.", "auth_failed", secretEnv, SECRET_CTX, seq(0xc0, 32)),
    "secret-envelope-unsupported-version": secretCase("Version byte 0x02: refused before any decryption.", "unsupported", v2, SECRET_CTX),
    "secret-envelope-truncated": secretCase("31 bytes, shorter than the 32-byte overhead.", "malformed", secretEnv.subarray(0, 31), SECRET_CTX),
    "dek-envelope-ok": {
      format: "clawkeep wrapped-DEK envelope v1 ('CK' 'D' 0x01)",
      description: "The DEK of secret-envelope-ok wrapped under the KEK derived from the fixed master key.",
      expect: "ok",
      master_key_hex: hex(MASTER),
      key_id: KEY_ID,
      key_hex: hex(KEK),
      context: DEK_CTX,
      nonce_hex: hex(DEK_NONCE),
      aad_hex: hex(aad(DEK_CTX)),
      plaintext_hex: hex(DEK),
      envelope_hex: hex(dekEnv),
      stored_base64: dekEnv.toString("base64"),
    },
    "dek-envelope-wrong-user": {
      format: "clawkeep wrapped-DEK envelope v1 ('CK' 'D' 0x01)",
      description: "The wrapped DEK of dek-envelope-ok, opened for another user.",
      expect: "auth_failed",
      key_hex: hex(KEK),
      context: { ...DEK_CTX, user: "usr_99887766554433221100" },
      plaintext_hex: null,
      envelope_hex: hex(dekEnv),
    },
    "hkdf-purpose-keys": {
      format: "HKDF-SHA256 purpose keys v1",
      description: "Purpose keys and the key id derived from the fixed master key (salt empty, L = 32).",
      expect: "ok",
      master_key_hex: hex(MASTER),
      keys: Object.fromEntries(Object.entries(INFO).map(([p, info]) => [p, { info, key_hex: hex(hkdf(info)) }])),
      key_id: KEY_ID,
    },
    "audit-checkpoint": checkpointVector(),
    "audit-event": {
      format: "clawkeep audit event v1",
      description: "The first event of a chain: hash, MAC, and the head MAC after it.",
      expect: "ok",
      audit_key_hex: hex(AUDIT_KEY),
      event: { seq: first.seq, time: first.time, user_id: first.user_id, actor: first.actor, action: first.action, target: first.target, outcome: first.outcome, metadata: first.metadata, prev_hash: first.prev_hash },
      hash_input: hashInput(first),
      hash: first.hash,
      mac: first.mac,
      head_mac: hdMac(first.seq, first.hash),
    },
    "audit-chain-ok": {
      format: "clawkeep audit event v1",
      description: "A two-event chain and its head; verify succeeds.",
      expect: "ok",
      audit_key_hex: hex(AUDIT_KEY),
      events: audit.events,
      head: audit.head,
    },
    "audit-chain-edited": {
      format: "clawkeep audit event v1",
      description: "audit-chain-ok with event 2's target changed after the fact.",
      expect: "verify_failed",
      audit_key_hex: hex(AUDIT_KEY),
      events: edited.events,
      head: edited.head,
      fail_seq: 2,
      reason_contains: "edited",
    },
    "api-token": {
      format: "clawkeep API token v1 (keyed digests, since migration 0006)",
      description: "A token made from 32 fixed bytes, and the lookup digest and row MAC the meta store keeps for token id tok_1 of user usr_tok without expiry, under the token purpose key of the fixed master key.",
      expect: "ok",
      random_hex: hex(TOKEN_BYTES),
      token: token,
      token_id: "tok_1",
      user_id: "usr_tok",
      token_hash: createHmac("sha256", hkdf(INFO.token)).update(`clawkeep/token-lookup/v1\n${token}`).digest("hex"),
      mac: createHmac("sha256", hkdf(INFO.token)).update(`clawkeep/token-row/v1\n${token}\ntok_1\nusr_tok\n`).digest("hex"),
    },
    "row-macs": rowMacVector(),
    "password-mode": passwordModeVector(),
    signer: signerVector(),
    "blob-key": {
      format: "blob key v1",
      description: "Where the ciphertext of secret-envelope-ok lives in the blob store.",
      expect: "ok",
      user: USER,
      agent: SECRET_CTX.agent,
      epoch: SECRET_CTX.epoch,
      blob_id: SECRET_CTX.blobId,
      key: `${USER}/${SECRET_CTX.agent}/${SECRET_CTX.epoch}/${SECRET_CTX.blobId}.enc`,
    },
    "master-key-file": {
      format: "master.key v1",
      description: "The file holding the fixed master key.",
      expect: "ok",
      file_text: `${MASTER.toString("base64")}\n`,
      mode: "0600",
      master_key_hex: hex(MASTER),
      key_id: KEY_ID,
    },
  };
}

export const renderVector = (v: Vector): string => `${JSON.stringify(v, null, 2)}\n`;

export const VECTOR_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "test", "vectors");

function main(): void {
  mkdirSync(VECTOR_DIR, { recursive: true });
  for (const [name, v] of Object.entries(buildVectors())) {
    writeFileSync(path.join(VECTOR_DIR, `${name}.json`), renderVector(v));
    process.stdout.write(`wrote test/vectors/${name}.json\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) main();
