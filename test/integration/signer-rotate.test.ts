import { afterAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { verifyMessage } from "ethers";
import { tempDir } from "../helpers/runtime.js";
import { cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";
import { sealingKeyId } from "../../src/signer/sealed-key.js";

// Rotating WORKER_SEALING_KEY with `clawkeep signer reseal` while the server keeps signing, and
// the seed's mode-switch path with `clawkeep signer migrate`, through the real CLI and server.

const K1 = randomBytes(32).toString("hex");
const K2 = randomBytes(32).toString("hex");
const K3 = randomBytes(32).toString("hex");
const dir = tempDir();
let server: ServerProc | undefined;
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const keyIds = () => {
  const db = new Database(path.join(dir, "clawkeep.db"), { readonly: true });
  try {
    return (db.prepare("select key_id from key_backups join identities on identities.id = identity_id where status = 'active'").all() as { key_id: string }[]).map((r) => r.key_id);
  } finally {
    db.close();
  }
};

describe("clawkeep signer reseal and migrate", () => {
  it("reseals every key under the new WORKER_SEALING_KEY while signing goes on; then the old key can go", async () => {
    server = await startServer(dir, { WORKER_SEALING_KEY: K1 });
    let env = await cliUser(server, "rotator");
    const token = env.CLAWKEEP_TOKEN!;
    const ids: { id: string; address: string }[] = [];
    for (let n = 0; n < 4; n++) {
      const r = await runCli(["identity", "create", "--curve", n % 2 ? "solana" : "evm", "--json"], { env });
      expect(r.code, r.stderr).toBe(0);
      ids.push(JSON.parse(r.stdout.toString()));
    }
    const evm = ids[0]!;
    const signs = async () => {
      const r = await runCli(["sign", "--identity", evm.id, "--message", "still signing", "--yes"], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(verifyMessage("still signing", r.stdout.toString().trim())).toBe(evm.address);
    };
    await signs();
    expect(new Set(keyIds())).toEqual(new Set([sealingKeyId(Buffer.from(K1, "hex"))]));

    // Every node restarts with the new key first and the old one still loaded.
    const rotating = { WORKER_SEALING_KEY: K2, WORKER_PREVIOUS_SEALING_KEYS: K1 };
    await server.stop();
    server = await startServer(dir, rotating);
    env = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: token };
    await signs();
    const [r1] = await Promise.all([runCli(["signer", "reseal", "--data-dir", dir, "--json"], { env: rotating }), signs()]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(JSON.parse(r1.stdout.toString())).toMatchObject({ total: 4, resealed: 4, failed: 0 });
    // Resumable and idempotent: a second run finds nothing to do.
    const r2 = await runCli(["signer", "reseal", "--data-dir", dir, "--json"], { env: rotating });
    expect(JSON.parse(r2.stdout.toString())).toMatchObject({ resealed: 0, current: 4 });
    expect(new Set(keyIds())).toEqual(new Set([sealingKeyId(Buffer.from(K2, "hex"))]));

    // The old key is gone for good; everything still signs.
    await server.stop();
    server = await startServer(dir, { WORKER_SEALING_KEY: K2 });
    env = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: token };
    await signs();
  });

  it("a key no loaded key opens: sign fails with 409, and signer migrate replaces the identity (only with --yes)", async () => {
    await server!.stop();
    // A switch to another signer without resealing, as the seed's mode switch.
    server = await startServer(dir, { WORKER_SEALING_KEY: K3 });
    const env = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: (await cliUser(server, "switcher")).CLAWKEEP_TOKEN! };
    const mine = await runCli(["identity", "create", "--curve", "evm", "--json"], { env });
    const id = JSON.parse(mine.stdout.toString()) as { id: string; address: string };
    await server.stop();
    server = await startServer(dir, { WORKER_SEALING_KEY: K1 });
    const env2 = { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN: env.CLAWKEEP_TOKEN };
    const fail = await runCli(["sign", "--identity", id.id, "--message", "x", "--yes"], { env: env2 });
    expect(fail.code).not.toBe(0);
    expect(fail.stderr).toContain("sealed_key_incompatible");
    const dry = await runCli(["signer", "migrate", "--json"], { env: env2 });
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout.toString())).toEqual([expect.objectContaining({ status: expect.stringContaining("--yes") })]);
    const m = await runCli(["signer", "migrate", "--yes", "--json"], { env: env2 });
    const res = JSON.parse(m.stdout.toString()) as { old: { id: string }; fresh: { id: string; address: string }; status: string }[];
    expect(res).toHaveLength(1);
    expect(res[0]).toMatchObject({ old: { id: id.id }, status: "replaced" });
    expect(m.stderr).toContain("funds at a replaced address");
    const ok = await runCli(["sign", "--identity", res[0]!.fresh.id, "--message", "fresh", "--yes"], { env: env2 });
    expect(ok.code, ok.stderr).toBe(0);
    expect(verifyMessage("fresh", ok.stdout.toString().trim())).toBe(res[0]!.fresh.address);
    const ls = await runCli(["identity", "ls", "--json"], { env: env2 });
    expect((JSON.parse(ls.stdout.toString()) as { identities: { id: string }[] }).identities.map((i) => i.id)).toEqual([res[0]!.fresh.id]);
  });
});
