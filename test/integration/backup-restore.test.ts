import { afterEach, describe, expect, it } from "vitest";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { backup } from "../../src/ops/backup.js";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, tempDir, type TestEnv } from "../helpers/runtime.js";
import { runCli } from "../helpers/proc.js";

// A backup taken while writes continue restores into a fresh deployment — on either dialect —
// that serves the same secrets to the same tokens and passes `audit verify`.

const envs: TestEnv[] = [];
const dirs: string[] = [];
afterEach(async () => {
  while (envs.length) await envs.pop()!.close();
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});
const start = async (...a: Parameters<typeof startTestEnv>) => {
  const e = await startTestEnv(...a);
  envs.push(e);
  return e;
};

async function seed(env: TestEnv) {
  const token = await createUser(env, "alice");
  const values: Record<string, string> = {};
  for (let i = 0; i < 20; i++) {
    const v = `value-${i}-${Math.random()}`;
    await putSecret(env, token, `bot/K${i % 5}`, v);
    values[`bot/K${i % 5}`] = v;
  }
  return { token, values };
}

describe.each(BACKENDS)("backup from $name", (source) => {
  for (const target of BACKENDS) {
    it(`restores into a fresh ${target.name} deployment with --with-blobs`, async () => {
      const a = await start({}, undefined, source);
      const { token, values } = await seed(a);
      const dir = tempDir();
      dirs.push(dir);
      const file = path.join(dir, "backup.jsonl");
      // Writes keep landing while the backup runs: the export must still be one consistent state.
      const writer = (async () => {
        for (let i = 0; i < 30; i++) await putSecret(a, token, "bot/BUSY", `busy-${i}`);
      })();
      const sum = await backup(a.rt.meta, a.rt.blobs, file, { withBlobs: true });
      await writer;
      expect(sum.blobs).toBeGreaterThanOrEqual(20);

      const b = await start({}, undefined, target);
      // The fresh deployment uses A's master key, restored through the CLI with B's storage.
      const cli = await runCli(["restore", "--in", file, "--json", "--data-dir", b.dir], { env: { ...b.storageEnv, CLAWKEEP_MASTER_KEY: a.masterKey } });
      // B already bootstrapped its own admin, so it is not empty: the CLI must refuse ...
      expect(cli.code).toBe(1);
      expect(cli.stderr).toMatch(/not empty/);
      // ... and a truly fresh store accepts it (the test harness always bootstraps an admin, so
      // empty C's tables first).
      const c = await start({ CLAWKEEP_MASTER_KEY: a.masterKey }, undefined, target);
      await c.rt.meta.db.deleteFrom("tokens").execute();
      await c.rt.meta.db.deleteFrom("audit_events").execute();
      await c.rt.meta.db.deleteFrom("audit_head").execute();
      await c.rt.meta.db.deleteFrom("users").execute();
      const ok = await runCli(["restore", "--in", file, "--json", "--data-dir", c.dir], { env: { ...c.storageEnv, CLAWKEEP_MASTER_KEY: a.masterKey } });
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout.toString())).toEqual({ rows: expect.any(Number), blobs: sum.blobs });

      const restored = await c.restart();
      envs.splice(envs.indexOf(c), 1, restored);
      for (const [ref, v] of Object.entries(values)) {
        const r = await restored.app.inject({ method: "GET", url: `/v1/secrets/${ref}`, headers: bearer(token) });
        expect(r.json().value).toBe(v);
      }
      expect(await restored.rt.audit.verify()).toMatchObject({ ok: true });
    });
  }
});

describe("bad backups change nothing", () => {
  it("a corrupted, truncated or foreign file is refused before anything is written", async () => {
    const a = await start();
    await seed(a);
    const dir = tempDir();
    dirs.push(dir);
    const file = path.join(dir, "b.jsonl");
    const out = await runCli(["backup", "--out", file, "--data-dir", a.dir], { env: { CLAWKEEP_MASTER_KEY: a.masterKey } });
    expect(out.code, out.stderr).toBe(0);
    const text = readFileSync(file, "utf8");
    const lines = text.trimEnd().split("\n");
    const cases: [string, string][] = [
      ["corrupted", text.replace('"alice"', '"alicf"')],
      ["truncated", lines.slice(0, -3).join("\n") + "\n"],
      ["garbage line", lines.slice(0, 3).join("\n") + "\n{not json\n" + lines.slice(3).join("\n") + "\n"],
      ["foreign", '{"hello":"world"}\n'],
    ];
    const target = tempDir();
    dirs.push(target);
    for (const [label, content] of cases) {
      const bad = path.join(dir, `${label}.jsonl`);
      writeFileSync(bad, content);
      const r = await runCli(["restore", "--in", bad, "--data-dir", target], { env: { CLAWKEEP_MASTER_KEY: a.masterKey } });
      expect(r.code, label).not.toBe(0);
      expect(r.stderr, label).toMatch(/backup/);
    }
    // The target has only the schema: no user, no blob.
    const check = await runCli(["restore", "--in", file, "--data-dir", target, "--json"], { env: { CLAWKEEP_MASTER_KEY: a.masterKey } });
    expect(check.code, check.stderr).toBe(0);
  });
});
