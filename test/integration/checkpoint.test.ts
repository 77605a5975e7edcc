import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { eventHash, eventMac, headMac } from "../../src/audit/chain.js";
import { derivePurposeKey } from "../../src/crypto/hkdf.js";
import { createUser, putSecret, startTestEnv, tempDir, type TestEnv } from "../helpers/runtime.js";
import { runCli } from "../helpers/proc.js";

// Signed checkpoints bound what even a master-key holder can do to the audit log unseen: a log
// that has only grown verifies against an old checkpoint; one rolled back to an earlier copy, or
// with history rewritten (even with every hash and MAC recomputed), does not.

let env: TestEnv;
let token: string;
const work = tempDir();
const cpFile = path.join(work, "cp.json");
const cli = (...a: string[]) => runCli([...a, "--data-dir", env.dir], { env: { CLAWKEEP_MASTER_KEY: env.masterKey } });

beforeAll(async () => {
  env = await startTestEnv();
  token = await createUser(env, "alice");
  for (let i = 0; i < 5; i++) await putSecret(env, token, `bot/K${i}`, `v${i}`);
  await env.shutdown();
  // An earlier copy of the whole data dir, for the rollback attack below.
  cpSync(env.dir, path.join(work, "early"), { recursive: true });
  env = await env.restart();
  for (let i = 0; i < 5; i++) await putSecret(env, token, `bot/L${i}`, `w${i}`);
  await env.shutdown();
  const c = await cli("audit", "checkpoint", "--out", cpFile);
  expect(c.code, c.stderr).toBe(0);
  env = await env.restart();
  for (let i = 0; i < 3; i++) await putSecret(env, token, `bot/M${i}`, `x${i}`);
  await env.shutdown();
});
afterAll(async () => {
  await env.close();
  rmSync(work, { recursive: true, force: true });
});

describe("audit checkpoints", () => {
  it("are signed, name a size and a Merkle root, and a grown log still extends them", async () => {
    const cp = JSON.parse(readFileSync(cpFile, "utf8"));
    expect(cp).toMatchObject({ format: "clawkeep-checkpoint", version: 1, size: expect.any(Number), root: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const v = await cli("audit", "verify", "--checkpoint", cpFile, "--json");
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout.toString())).toMatchObject({ ok: true, checkpoint: { size: cp.size, signed_by_current_master_key: true } });
  });

  it("a log rolled back to an earlier copy fails", async () => {
    const v = await runCli(["audit", "verify", "--checkpoint", cpFile, "--data-dir", path.join(work, "early")], { env: { CLAWKEEP_MASTER_KEY: env.masterKey } });
    expect(v.code).toBe(5);
    expect(v.stderr).toMatch(/rolled back or truncated/);
  });

  it("history rewritten by a master-key holder (hashes and MACs recomputed) fails", async () => {
    const copy = path.join(work, "rewritten");
    cpSync(env.dir, copy, { recursive: true });
    const key = derivePurposeKey(Buffer.from(env.masterKey, "base64"), "audit");
    const db = new Database(path.join(copy, "clawkeep.db"));
    const rows = db.prepare("select * from audit_events order by seq").all() as Record<string, unknown>[];
    let prev = "0".repeat(64);
    for (const r of rows) {
      const e = { ...(r as object), prev_hash: prev, target: r.seq === 5 ? "bot/HIDDEN" : r.target } as never as Parameters<typeof eventHash>[0];
      const h = eventHash(e);
      db.prepare("update audit_events set target = ?, prev_hash = ?, hash = ?, mac = ? where seq = ?").run(e.target, prev, h, eventMac(key, h), r.seq);
      prev = h;
    }
    db.prepare("update audit_head set hash = ?, mac = ?").run(prev, headMac(key, rows.length, prev));
    db.close();
    // The chain itself verifies: the rewrite is consistent ...
    expect((await runCli(["audit", "verify", "--data-dir", copy], { env: { CLAWKEEP_MASTER_KEY: env.masterKey } })).code).toBe(0);
    // ... but it no longer extends the checkpoint the user kept.
    const v = await runCli(["audit", "verify", "--checkpoint", cpFile, "--data-dir", copy], { env: { CLAWKEEP_MASTER_KEY: env.masterKey } });
    expect(v.code).toBe(5);
    expect(v.stderr).toMatch(/history rewritten/);
  });

  it("a checkpoint self-signed by another key, or of size 0, proves nothing", async () => {
    const { signCheckpoint } = await import("../../src/audit/checkpoint.js");
    const forged = path.join(work, "forged.json");
    const cp = JSON.parse(readFileSync(cpFile, "utf8"));
    writeFileSync(forged, JSON.stringify(signCheckpoint(Buffer.alloc(32, 3), { size: cp.size, root: cp.root, head: cp.head })));
    const v = await cli("audit", "verify", "--checkpoint", forged);
    expect(v.code).toBe(5);
    expect(v.stderr).toMatch(/not signed by this deployment/);
    // Pinning that key explicitly is the user's choice to trust it.
    const pinned = await cli("audit", "verify", "--checkpoint", forged, "--public-key", JSON.parse(readFileSync(forged, "utf8")).public_key);
    expect(pinned.code, pinned.stderr).toBe(0);
    const empty = path.join(work, "empty.json");
    writeFileSync(empty, JSON.stringify(signCheckpoint(Buffer.alloc(32, 3), { size: 0, root: "", head: "" })));
    expect((await cli("audit", "verify", "--checkpoint", empty)).code).toBe(5);
  });

  it("a tampered checkpoint fails its signature", async () => {
    const cp = JSON.parse(readFileSync(cpFile, "utf8"));
    const bad = path.join(work, "bad.json");
    writeFileSync(bad, JSON.stringify({ ...cp, size: cp.size - 1 }));
    const v = await cli("audit", "verify", "--checkpoint", bad);
    expect(v.code).toBe(5);
    expect(v.stderr).toMatch(/signature/);
  });
});
