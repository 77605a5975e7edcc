import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { blobKey } from "../../src/vault/secrets.js";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// A flipped byte, a swapped blob, a blob moved onto another pointer, or a missing blob is an
// integrity error: HTTP 500 `integrity_error`, an audit event, never wrong plaintext, and the
// server keeps serving. Tampering goes straight to the blob store and the database, as an
// attacker with storage access would.

describe.each(BACKENDS)("blob tampering is detected ($name)", (backend) => {
  let env: TestEnv;
  let token: string;

  beforeEach(async () => {
    env = await startTestEnv({}, undefined, backend);
    token = await createUser(env, "alice");
  });
  afterEach(async () => env.close());

  async function pointer(agent: string, name: string, version: number) {
    const db = await env.raw();
    try {
      const [row] = await db.all<{ user_id: string; epoch: number; blob_id: string; sha256: string }>(
        "select user_id, epoch, blob_id, sha256 from secret_versions where agent = ? and name = ? and version = ?",
        agent,
        name,
        version,
      );
      return { ...row!, key: blobKey(row!.user_id, agent, row!.epoch, row!.blob_id) };
    } finally {
      await db.close();
    }
  }
  const sql = async (text: string, ...params: unknown[]) => {
    const db = await env.raw();
    await db.run(text, ...params).finally(() => db.close());
  };
  const blob = async (key: string) => (await env.rt.blobs.get(key))!;

  async function expectIntegrityError(ref: string, forbidden: string[], query = "") {
    const r = await env.app.inject({ method: "GET", url: `/v1/secrets/${ref}${query}`, headers: bearer(token) });
    expect(r.statusCode).toBe(500);
    expect(r.json()).toEqual({ error: { code: "integrity_error", message: expect.any(String) } });
    for (const f of forbidden) expect(r.body).not.toContain(f);
    const audit = await env.app.inject({ method: "GET", url: "/v1/audit?limit=1000", headers: bearer(token) });
    const events = (audit.json() as { events: { action: string; target: string }[] }).events;
    expect(events.some((e) => e.action === "IntegrityError" && ref.endsWith(e.target))).toBe(true);
    expect((await env.app.inject({ method: "GET", url: "/health" })).statusCode).toBe(200);
  }

  it("a flipped byte anywhere in the blob", async () => {
    await putSecret(env, token, "bot/KEY", "value-one-flip");
    const { key } = await pointer("bot", "KEY", 1);
    const bytes = await blob(key);
    for (const i of [0, 3, 5, 20, bytes.length - 1]) {
      const copy = Buffer.from(bytes);
      copy[i] = copy[i]! ^ 0x01;
      await env.rt.blobs.put(key, copy);
      await expectIntegrityError("bot/KEY", ["value-one-flip"]);
    }
    await env.rt.blobs.put(key, bytes);
    const ok = await env.app.inject({ method: "GET", url: "/v1/secrets/bot/KEY", headers: bearer(token) });
    expect(ok.json().value).toBe("value-one-flip");
  });

  it("two blobs swapped between pointers (hashes swapped too)", async () => {
    await putSecret(env, token, "bot/A", "alpha-secret");
    await putSecret(env, token, "bot/B", "bravo-secret");
    const a = await pointer("bot", "A", 1);
    const b = await pointer("bot", "B", 1);
    const ab = await blob(a.key);
    const bb = await blob(b.key);
    await env.rt.blobs.put(a.key, bb);
    await env.rt.blobs.put(b.key, ab);
    // First with the pointers' hashes left alone (hash check fails) ...
    await expectIntegrityError("bot/A", ["alpha-secret", "bravo-secret"]);
    // ... then with an attacker who also swapped the hashes in the database (AAD check fails).
    await sql("update secret_versions set sha256 = ? where agent = 'bot' and name = 'A'", b.sha256);
    await sql("update secret_versions set sha256 = ? where agent = 'bot' and name = 'B'", a.sha256);
    await expectIntegrityError("bot/A", ["alpha-secret", "bravo-secret"]);
    await expectIntegrityError("bot/B", ["alpha-secret", "bravo-secret"]);
  });

  it("a blob moved onto another pointer, and a pointer re-aimed at another blob", async () => {
    await putSecret(env, token, "bot/SRC", "source-secret");
    await putSecret(env, token, "bot/DST", "dest-secret");
    await putSecret(env, token, "bot/DST", "dest-secret-v2");
    const src = await pointer("bot", "SRC", 1);
    const dst = await pointer("bot", "DST", 1);
    await env.rt.blobs.put(dst.key, await blob(src.key));
    await expectIntegrityError("bot/DST", ["source-secret"], "?version=1");
    // Re-aim DST v2's pointer at SRC's blob id and hash, as a database-only attacker could.
    await sql("update secret_versions set blob_id = ?, sha256 = ? where agent = 'bot' and name = 'DST' and version = 2", src.blob_id, src.sha256);
    await env.rt.blobs.put(blobKey(dst.user_id, "bot", dst.epoch, src.blob_id), await blob(src.key));
    await expectIntegrityError("bot/DST", ["source-secret"]);
  });

  it("a version swapped: v1's blob served as v2 fails, even with matching hash", async () => {
    await putSecret(env, token, "bot/ROT", "old-value");
    await putSecret(env, token, "bot/ROT", "new-value");
    const v1 = await pointer("bot", "ROT", 1);
    await sql("update secret_versions set blob_id = ?, sha256 = ? where agent = 'bot' and name = 'ROT' and version = 2", v1.blob_id, v1.sha256);
    await expectIntegrityError("bot/ROT", ["old-value"]);
  });

  it("after reads have cached the ciphertext: a re-aimed pointer, a changed hash, or a blob replaced in the store is still caught", async () => {
    await putSecret(env, token, "bot/HOT", "hot-value");
    await putSecret(env, token, "bot/COLD", "cold-value");
    const read = (ref: string) => env.app.inject({ method: "GET", url: `/v1/secrets/${ref}`, headers: bearer(token) });
    expect((await read("bot/HOT")).json().value).toBe("hot-value");
    expect((await read("bot/COLD")).json().value).toBe("cold-value");
    const hot = await pointer("bot", "HOT", 1);
    const cold = await pointer("bot", "COLD", 1);
    // HOT re-aimed at COLD's blob and hash (same user, agent and epoch: the same blob key), so
    // the read is answered with COLD's checked bytes from the cache: the envelope's AAD (HOT's
    // name and version) still refuses them.
    await sql("update secret_versions set blob_id = ?, sha256 = ? where agent = 'bot' and name = 'HOT'", cold.blob_id, cold.sha256);
    await expectIntegrityError("bot/HOT", ["hot-value", "cold-value"]);
    // COLD's pointer given another hash: the cached bytes are not found under it, and the bytes
    // in the store do not match it.
    await sql("update secret_versions set sha256 = ? where agent = 'bot' and name = 'COLD'", hot.sha256);
    await expectIntegrityError("bot/COLD", ["cold-value", "hot-value"]);
    await sql("update secret_versions set sha256 = ? where agent = 'bot' and name = 'COLD'", cold.sha256);
    expect((await read("bot/COLD")).json().value).toBe("cold-value");
    // A blob overwritten through the store drops what the cache held for it.
    const flipped = Buffer.from(await blob(cold.key));
    flipped[10] = flipped[10]! ^ 0x01;
    await env.rt.blobs.put(cold.key, flipped);
    await expectIntegrityError("bot/COLD", ["cold-value"]);
  });

  it("a missing blob", async () => {
    await putSecret(env, token, "bot/GONE", "gone-value");
    await env.rt.blobs.delete((await pointer("bot", "GONE", 1)).key);
    await expectIntegrityError("bot/GONE", ["gone-value"]);
  });

  it("a tampered wrapped DEK", async () => {
    await putSecret(env, token, "bot/DEK", "dek-protected");
    const db = await env.raw();
    const [row] = await db.all<{ wrapped_dek: string }>("select wrapped_dek from user_epochs");
    const w = Buffer.from(row!.wrapped_dek, "base64");
    w[w.length - 1] = w[w.length - 1]! ^ 0x80;
    await db.run("update user_epochs set wrapped_dek = ?", w.toString("base64"));
    await db.close();
    // Restart so the DEK is not served from the in-memory cache.
    env = await env.restart();
    await expectIntegrityError("bot/DEK", ["dek-protected"]);
  });
});
