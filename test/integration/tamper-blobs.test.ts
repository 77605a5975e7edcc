import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { copyFileSync, readFileSync, writeFileSync, unlinkSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// A flipped byte, a swapped blob, a blob moved onto another pointer, or a missing blob is an
// integrity error: HTTP 500 `integrity_error`, an audit event, never wrong plaintext, and the
// server keeps serving.

let env: TestEnv;
let token: string;

beforeEach(async () => {
  env = await startTestEnv();
  token = await createUser(env, "alice");
});
afterEach(async () => env.close());

function pointer(agent: string, name: string, version: number) {
  const db = new Database(path.join(env.dir, "clawkeep.db"));
  try {
    const row = db
      .prepare("select user_id, epoch, blob_id, sha256 from secret_versions where agent = ? and name = ? and version = ?")
      .get(agent, name, version) as { user_id: string; epoch: number; blob_id: string; sha256: string };
    return { ...row, file: path.join(env.dir, "blobs", row.user_id, agent, String(row.epoch), `${row.blob_id}.enc`) };
  } finally {
    db.close();
  }
}

async function expectIntegrityError(ref: string, forbidden: string[], query = "") {
  const r = await env.app.inject({ method: "GET", url: `/v1/secrets/${ref}${query}`, headers: bearer(token) });
  expect(r.statusCode).toBe(500);
  expect(r.json()).toEqual({ error: { code: "integrity_error", message: expect.any(String) } });
  for (const f of forbidden) expect(r.body).not.toContain(f);
  // The failure is an audit event, and the server still answers.
  const audit = await env.app.inject({ method: "GET", url: "/v1/audit?limit=1000", headers: bearer(token) });
  const events = (audit.json() as { events: { action: string; target: string }[] }).events;
  expect(events.some((e) => e.action === "IntegrityError" && ref.endsWith(e.target))).toBe(true);
  const health = await env.app.inject({ method: "GET", url: "/health" });
  expect(health.statusCode).toBe(200);
}

describe("blob tampering is detected", () => {
  it("a flipped byte anywhere in the blob", async () => {
    await putSecret(env, token, "bot/KEY", "value-one-flip");
    const { file } = pointer("bot", "KEY", 1);
    const bytes = readFileSync(file);
    for (const i of [0, 3, 5, 20, bytes.length - 1]) {
      const copy = Buffer.from(bytes);
      copy[i] = copy[i]! ^ 0x01;
      writeFileSync(file, copy);
      await expectIntegrityError("bot/KEY", ["value-one-flip"]);
    }
    writeFileSync(file, bytes);
    const ok = await env.app.inject({ method: "GET", url: "/v1/secrets/bot/KEY", headers: bearer(token) });
    expect(ok.json().value).toBe("value-one-flip");
  });

  it("two blobs swapped between pointers (hashes swapped too)", async () => {
    await putSecret(env, token, "bot/A", "alpha-secret");
    await putSecret(env, token, "bot/B", "bravo-secret");
    const a = pointer("bot", "A", 1);
    const b = pointer("bot", "B", 1);
    const ab = readFileSync(a.file);
    const bb = readFileSync(b.file);
    writeFileSync(a.file, bb);
    writeFileSync(b.file, ab);
    // First with the pointers' hashes left alone (hash check fails) ...
    await expectIntegrityError("bot/A", ["alpha-secret", "bravo-secret"]);
    // ... then with an attacker who also swapped the hashes in the database (AAD check fails).
    const db = new Database(path.join(env.dir, "clawkeep.db"));
    db.prepare("update secret_versions set sha256 = ? where agent = 'bot' and name = 'A'").run(b.sha256);
    db.prepare("update secret_versions set sha256 = ? where agent = 'bot' and name = 'B'").run(a.sha256);
    db.close();
    await expectIntegrityError("bot/A", ["alpha-secret", "bravo-secret"]);
    await expectIntegrityError("bot/B", ["alpha-secret", "bravo-secret"]);
  });

  it("a blob moved onto another pointer, and a pointer re-aimed at another blob", async () => {
    await putSecret(env, token, "bot/SRC", "source-secret");
    await putSecret(env, token, "bot/DST", "dest-secret");
    await putSecret(env, token, "bot/DST", "dest-secret-v2");
    const src = pointer("bot", "SRC", 1);
    const dst = pointer("bot", "DST", 1);
    copyFileSync(src.file, dst.file);
    await expectIntegrityError("bot/DST", ["source-secret"], "?version=1");
    // Re-aim DST v2's pointer at SRC's blob id and hash, as a database-only attacker could.
    const db = new Database(path.join(env.dir, "clawkeep.db"));
    db.prepare("update secret_versions set blob_id = ?, sha256 = ? where agent = 'bot' and name = 'DST' and version = 2").run(src.blob_id, src.sha256);
    db.close();
    copyFileSync(src.file, path.join(path.dirname(dst.file), `${src.blob_id}.enc`));
    await expectIntegrityError("bot/DST", ["source-secret"]);
  });

  it("a version swapped: v1's blob served as v2 fails, even with matching hash", async () => {
    await putSecret(env, token, "bot/ROT", "old-value");
    await putSecret(env, token, "bot/ROT", "new-value");
    const v1 = pointer("bot", "ROT", 1);
    const db = new Database(path.join(env.dir, "clawkeep.db"));
    db.prepare("update secret_versions set blob_id = ?, sha256 = ? where agent = 'bot' and name = 'ROT' and version = 2").run(v1.blob_id, v1.sha256);
    db.close();
    await expectIntegrityError("bot/ROT", ["old-value"]);
  });

  it("a missing blob", async () => {
    await putSecret(env, token, "bot/GONE", "gone-value");
    unlinkSync(pointer("bot", "GONE", 1).file);
    await expectIntegrityError("bot/GONE", ["gone-value"]);
  });

  it("a tampered wrapped DEK", async () => {
    await putSecret(env, token, "bot/DEK", "dek-protected");
    const db = new Database(path.join(env.dir, "clawkeep.db"));
    const row = db.prepare("select wrapped_dek from user_epochs").get() as { wrapped_dek: string };
    const w = Buffer.from(row.wrapped_dek, "base64");
    w[w.length - 1] = w[w.length - 1]! ^ 0x80;
    db.prepare("update user_epochs set wrapped_dek = ?").run(w.toString("base64"));
    db.close();
    // Restart so the DEK is not served from the in-memory cache.
    env = await env.restart();
    await expectIntegrityError("bot/DEK", ["dek-protected"]);
  });
});

