import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { loadConfig } from "../../src/config.js";
import { createRuntime, type Runtime } from "../../src/main.js";
import { openPointer } from "../../src/vault/sealed.js";
import { BIN, runCli, startServer } from "../helpers/proc.js";
import { tempDir } from "../helpers/runtime.js";

// kill -9 in the middle of re-encryption, rotation, destruction and master-key rotation, at many
// points: afterwards every version opens to exactly its value, nothing is lost, the job finishes
// when run again, and the audit chain verifies.

const dir = tempDir();
const oldKey = randomBytes(32).toString("base64");
const newKey = randomBytes(32).toString("base64");
const N = 400;
const values = new Map<string, string>(); // `${name}@${version}` → value
let userId = "";

async function withRuntime<T>(env: Record<string, string>, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await createRuntime(loadConfig({ CLAWKEEP_DATA_DIR: dir, CLAWKEEP_MAINTENANCE_SECONDS: "0", ...env }), { createMasterKey: false, env });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

// Opens every stored version straight from its pointer (no read path, so nothing is moved as a
// side effect) and checks the audit chain.
async function check(env: Record<string, string>) {
  return withRuntime(env, async (rt) => {
    const rows = await rt.meta.db.selectFrom("secret_versions").selectAll().where("deleted", "=", 0).execute();
    expect(rows).toHaveLength(values.size);
    const epochs: number[] = [];
    for (const r of rows) {
      const v = await openPointer({ db: rt.meta.db, blobs: rt.blobs, keyring: rt.keyring }, { ...r, epoch: r.epoch!, blob_id: r.blob_id!, sha256: r.sha256! });
      expect(v.toString()).toBe(values.get(`${r.name}@${r.version}`));
      epochs.push(r.epoch!);
    }
    expect(await rt.audit.verify()).toMatchObject({ ok: true });
    return { epochs, current: await rt.epochs.current(userId) };
  });
}

function killAfter(args: string[], env: Record<string, string>, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args, "--data-dir", dir], { env: { ...process.env, CLAWKEEP_MAINTENANCE_SECONDS: "0", ...env }, stdio: "ignore" });
    const t = setTimeout(() => p.kill("SIGKILL"), ms);
    p.on("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

const OLD = { CLAWKEEP_MASTER_KEY: oldKey };
const BOTH = { CLAWKEEP_MASTER_KEY: newKey, CLAWKEEP_PREVIOUS_MASTER_KEYS: oldKey };
const NEW = { CLAWKEEP_MASTER_KEY: newKey };
// The longer delays matter on a loaded machine, where the CLI may not have started moving
// anything by 1.3 s; once the job has finished, a further run is a quick no-op.
const DELAYS = [250, 400, 550, 700, 850, 1000, 1300, 1800, 2600, 3600];

beforeAll(async () => {
  await withRuntime(OLD, async (rt) => {
    const { user } = await rt.users.createUser({ userId: null, actor: "test" }, "alice");
    userId = user.id;
    await rt.agents.create({ userId, actor: userId }, "bot");
    for (let i = 0; i < N; i++) {
      const name = `K${i % 100}`;
      const value = `v${i}-${randomBytes(6).toString("hex")}`;
      const { version } = await rt.secrets.put({ userId, actor: userId }, "bot", name, Buffer.from(value));
      values.set(`${name}@${version}`, value);
    }
    await rt.epochs.rotate(userId, "test");
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("crash safety of epoch jobs", () => {
  it("re-encryption killed at many points resumes and loses nothing", async () => {
    const partial = new Set<number>();
    for (const ms of DELAYS) {
      await killAfter(["epoch", "reencrypt", "--all"], OLD, ms);
      const { epochs } = await check(OLD);
      const moved = epochs.filter((e) => e === 2).length;
      if (moved > 0 && moved < N) partial.add(moved);
    }
    // Some kills really landed in the middle of the job.
    expect(partial.size).toBeGreaterThan(0);
    const done = await runCli(["epoch", "reencrypt", "--all", "--json", "--data-dir", dir], { env: OLD });
    expect(done.code, done.stderr).toBe(0);
    const { epochs } = await check(OLD);
    expect(new Set(epochs)).toEqual(new Set([2]));
  });

  it("rotation and destruction killed at many points", async () => {
    for (const ms of DELAYS.slice(0, 4)) {
      await killAfter(["epoch", "rotate", "--all"], OLD, ms);
      await check(OLD);
    }
    const { current } = await check(OLD);
    for (const ms of DELAYS) {
      await killAfter(["epoch", "destroy", "--before", String(current), "--all", "--force-reencrypt"], OLD, ms);
      await check(OLD);
    }
    const done = await runCli(["epoch", "destroy", "--before", String(current), "--all", "--force-reencrypt", "--json", "--data-dir", dir], { env: OLD });
    expect(done.code, done.stderr).toBe(0);
    const after = await check(OLD);
    expect(new Set(after.epochs)).toEqual(new Set([current]));
    await withRuntime(OLD, async (rt) => {
      const states = (await rt.epochs.list(userId)).map((e) => e.state);
      expect(states.slice(0, -1).every((s) => s === "destroyed")).toBe(true);
    });
  });

  it("master-key rotation killed at many points; afterwards the old key is not needed", async () => {
    for (const ms of DELAYS) {
      await killAfter(["master", "rotate"], BOTH, ms);
      await check(BOTH);
    }
    const done = await runCli(["master", "rotate", "--json", "--data-dir", dir], { env: BOTH });
    expect(done.code, done.stderr).toBe(0);
    // Only the new key from here on: every version opens and the whole audit log verifies.
    await check(NEW);
    const v = await runCli(["audit", "verify", "--data-dir", dir], { env: NEW });
    expect(v.code, v.stderr).toBe(0);
    // The old key alone no longer opens anything.
    await expect(check(OLD)).rejects.toThrow();
  });

  it("a server killed while reads re-encrypt lazily loses nothing", async () => {
    await withRuntime(NEW, (rt) => rt.epochs.rotate(userId, "test"));
    const token = await withRuntime(NEW, async (rt) => (await rt.users.createToken({ userId, userName: "alice", tokenId: "", isAdmin: false }, "crash")).token);
    const s2 = await startServer(dir, { ...NEW, CLAWKEEP_LOG_LEVEL: "warn", CLAWKEEP_MAINTENANCE_SECONDS: "0" });
    const reads = [...values.keys()].map(async (k) => {
      const [name, version] = k.split("@");
      return fetch(`${s2.url}/v1/secrets/bot/${name}?version=${version}`, { headers: { authorization: `Bearer ${token}` } }).catch(() => null);
    });
    await new Promise((r) => setTimeout(r, 150));
    await s2.kill9();
    await Promise.all(reads);
    const { epochs } = await check(NEW);
    expect(epochs.length).toBe(N);
  });
});
