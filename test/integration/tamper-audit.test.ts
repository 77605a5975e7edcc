import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BACKENDS } from "../helpers/backends.js";
import { createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";
import { runCli } from "../helpers/proc.js";

// Someone with write access to the database but not the master key edits, deletes, inserts or
// reorders audit rows: `verify` finds it, names the first bad event, and the CLI exits non-zero.

describe.each(BACKENDS)("audit log tampering is detected ($name)", (backend) => {
let env: TestEnv;

beforeEach(async () => {
  env = await startTestEnv({}, undefined, backend);
  const token = await createUser(env, "alice");
  for (let i = 0; i < 5; i++) await putSecret(env, token, "bot/K", `v${i}`);
  expect(await env.rt.audit.verify()).toEqual({ ok: true, count: expect.any(Number) });
});
afterEach(async () => env.close());

const sql = async (stmt: string, ...args: unknown[]) => {
  const db = await env.raw();
  await db.run(stmt, ...args).finally(() => db.close());
};
const one = async <T>(stmt: string, ...args: unknown[]): Promise<T> => {
  const db = await env.raw();
  const rows = await db.all<T>(stmt, ...args).finally(() => db.close());
  return rows[0]!;
};
const count = async () => Number((await one<{ n: number }>("select count(*) n from audit_events")).n);
const cliEnv = () => ({ CLAWKEEP_MASTER_KEY: env.masterKey, ...env.storageEnv });

async function expectBroken(seq?: number) {
  const r = await env.rt.audit.verify();
  expect(r.ok).toBe(false);
  if (!r.ok && seq !== undefined) expect(r.seq).toBe(seq);
  const cli = await runCli(["audit", "verify", "--data-dir", env.dir], { env: cliEnv() });
  expect(cli.code).toBe(5);
  expect(cli.stderr).toMatch(/audit log broken at event \d+/);
  return r;
}

  it("an intact log verifies offline through the CLI (exit 0)", async () => {
    const cli = await runCli(["audit", "verify", "--data-dir", env.dir, "--json"], { env: cliEnv() });
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout.toString())).toMatchObject({ ok: true, count: await count() });
  });

  it("edited fields (action, target, metadata, time, actor, outcome)", async () => {
    for (const [col, val] of [
      ["action", "SecretRead"],
      ["target", "bot/OTHER"],
      ["metadata", "{\"admin\":true}"],
      ["time", "2020-01-01T00:00:00.000Z"],
      ["actor", "usr_evil"],
      ["outcome", "failure"],
      ["user_id", "usr_other"],
    ] as const) {
      const old = await one<{ v: string }>(`select ${col} v from audit_events where seq = 4`);
      await sql(`update audit_events set ${col} = ? where seq = 4`, val);
      await expectBroken(4);
      await sql(`update audit_events set ${col} = ? where seq = 4`, old.v);
    }
    expect((await env.rt.audit.verify()).ok).toBe(true);
  });

  it("an edited row whose hash is recomputed still fails its MAC", async () => {
    const { eventHash } = await import("../../src/audit/chain.js");
    const row = await one<Record<string, unknown>>("select * from audit_events where seq = 3");
    const forged = { ...row, seq: Number(row.seq), action: "Forged" } as never;
    await sql("update audit_events set action = 'Forged', hash = ? where seq = 3", eventHash(forged));
    const r = await expectBroken(3);
    expect(!r.ok && r.reason).toMatch(/MAC|hash/);
  });

  it("a deleted middle row", async () => {
    await sql("delete from audit_events where seq = 3");
    await expectBroken(4);
  });

  it("a deleted last row (tail truncation)", async () => {
    const n = await count();
    await sql("delete from audit_events where seq = ?", n);
    await expectBroken();
  });

  it("a deleted last row with the head rolled back to the previous event's values", async () => {
    const n = await count();
    const prev = await one<{ hash: string }>("select hash from audit_events where seq = ?", n - 1);
    await sql("delete from audit_events where seq = ?", n);
    await sql("update audit_head set seq = ?, hash = ?", n - 1, prev.hash);
    const r = await expectBroken();
    expect(!r.ok && r.reason).toMatch(/head MAC/);
  });

  it("an inserted row (copied from another, with a new seq)", async () => {
    const n = await count();
    await sql(
      "insert into audit_events (seq, time, user_id, actor, action, target, outcome, metadata, prev_hash, hash, mac) select ?, time, user_id, actor, action, target, outcome, metadata, prev_hash, hash, mac from audit_events where seq = 2",
      n + 1,
    );
    await expectBroken(n + 1);
  });

  it("an inserted row in the middle (seqs shifted up)", async () => {
    await sql("update audit_events set seq = seq + 1000 where seq >= 3");
    await sql("update audit_events set seq = seq - 999 where seq >= 1000");
    await sql(
      "insert into audit_events (seq, time, user_id, actor, action, target, outcome, metadata, prev_hash, hash, mac) select 3, time, user_id, actor, action, target, outcome, metadata, prev_hash, hash, mac from audit_events where seq = 2",
    );
    await expectBroken(3);
  });

  it("two rows reordered (seqs swapped)", async () => {
    await sql("update audit_events set seq = -1 where seq = 3");
    await sql("update audit_events set seq = 3 where seq = 4");
    await sql("update audit_events set seq = 4 where seq = -1");
    await expectBroken(3);
  });

  it("the whole log wiped (events and head)", async () => {
    await sql("delete from audit_events");
    await sql("delete from audit_head");
    await expectBroken();
  });

  it("the CLI refuses a data dir without its master key", async () => {
    const cli = await runCli(["audit", "verify", "--data-dir", env.dir], { env: { ...cliEnv(), CLAWKEEP_MASTER_KEY: "" } });
    expect(cli.code).toBe(7);
    expect(cli.stderr).toMatch(/CLAWKEEP_MASTER_KEY/);
  });
});

describe("the wrong master key cannot vouch for the log", () => {
  let e2: TestEnv;
  beforeAll(async () => {
    e2 = await startTestEnv();
    await createUser(e2, "bob");
  });
  afterAll(async () => e2.close());
  it("verify with another key fails on the first event", async () => {
    const other = Buffer.alloc(32, 7).toString("base64");
    const cli = await runCli(["audit", "verify", "--data-dir", e2.dir], { env: { CLAWKEEP_MASTER_KEY: other } });
    expect(cli.code).toBe(5);
    expect(cli.stderr).toMatch(/event 1/);
  });
});
