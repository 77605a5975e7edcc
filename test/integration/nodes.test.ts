import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { createPgDatabase, PG_AVAILABLE } from "../helpers/backends.js";
import { tempDir } from "../helpers/runtime.js";
import { runCli, startServer, type ServerProc } from "../helpers/proc.js";
import { startS3, type S3Server } from "../helpers/s3.js";

// Two stateless `clawkeep serve` processes on one PostgreSQL and one S3 server, as behind a load
// balancer. (With CI=true PostgreSQL is mandatory, so this never skips in CI.)

describe.skipIf(!PG_AVAILABLE)("two nodes, one PostgreSQL, one S3", () => {
  let s3: S3Server;
  let pg: { url: string; drop: () => Promise<void> };
  const dirs = [tempDir(), tempDir(), tempDir()];
  let env: Record<string, string>;
  let a: ServerProc;
  let b: ServerProc;
  let token: string;

  beforeAll(async () => {
    s3 = await startS3();
    pg = await createPgDatabase();
    env = {
      ...s3.env,
      CLAWKEEP_DATABASE_URL: pg.url,
      CLAWKEEP_BLOB_URL: `s3://${s3.bucket}/vault`,
      CLAWKEEP_MASTER_KEY: randomBytes(32).toString("base64"),
      CLAWKEEP_LOG_LEVEL: "warn",
      CLAWKEEP_DATABASE_POOL: "20",
    };
    a = await startServer(dirs[0]!, env);
    b = await startServer(dirs[1]!, env);
    const admin = { authorization: `Bearer ${a.adminToken()}`, "content-type": "application/json" };
    const u = await fetch(`${b.url}/v1/users`, { method: "POST", headers: admin, body: JSON.stringify({ name: "fleet" }) });
    token = ((await u.json()) as { token: string }).token;
    for (const name of ["bot", "load", "kill"]) {
      await fetch(`${a.url}/v1/agents`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ name }) });
    }
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await s3?.stop();
    await pg?.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const put = (node: ServerProc, ref: string, value: string) =>
    fetch(`${node.url}/v1/secrets/${ref}`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" }, body: value });
  const get = async (node: ServerProc, ref: string, version?: number) => {
    const r = await fetch(`${node.url}/v1/secrets/${ref}${version ? `?version=${version}` : ""}`, { headers: { authorization: `Bearer ${token}`, accept: "application/octet-stream" } });
    return { status: r.status, value: Buffer.from(await r.arrayBuffer()).toString() };
  };

  it("a secret written through node A is read through node B", async () => {
    expect((await put(a, "bot/SHARED", "from-a")).status).toBe(201);
    expect(await get(b, "bot/SHARED")).toEqual({ status: 200, value: "from-a" });
    expect((await fetch(`${a.url}/ready`)).status).toBe(200);
    expect((await fetch(`${b.url}/ready`)).status).toBe(200);
  });

  it("600 concurrent puts spread over both nodes: every version readable, audit intact", async () => {
    const acked: { ref: string; version: number; value: string }[] = [];
    const jobs = Array.from({ length: 600 }, (_, i) => ({ node: i % 2 ? a : b, ref: `load/K${i % 20}`, value: `v${i}-${randomBytes(6).toString("hex")}` }));
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const j = jobs[next++]!;
        const r = await put(j.node, j.ref, j.value);
        expect(r.status).toBe(201);
        acked.push({ ref: j.ref, version: ((await r.json()) as { version: number }).version, value: j.value });
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    expect(acked).toHaveLength(600);
    // Versions per secret are unique and contiguous: 30 puts each → 1..30.
    for (let k = 0; k < 20; k++) {
      const vs = acked.filter((x) => x.ref === `load/K${k}`).map((x) => x.version).sort((p, q) => p - q);
      expect(vs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    }
    for (const [i, x] of acked.entries()) expect(await get(i % 2 ? a : b, x.ref, x.version)).toEqual({ status: 200, value: x.value });
    const verify = await runCli(["audit", "verify", "--json", "--data-dir", dirs[2]!], { env });
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout.toString()).ok).toBe(true);
  });

  it("killing one node mid-load loses no acknowledged write; the other keeps serving", async () => {
    const acked: { ref: string; version: number; value: string }[] = [];
    let bFailures = 0;
    let stop = false;
    const loop = async (node: ServerProc, w: number) => {
      for (let i = 0; !stop; i++) {
        const value = `${w}-${i}-${randomBytes(4).toString("hex")}`;
        try {
          const r = await put(node, `kill/W${w}`, value);
          if (r.status === 201) acked.push({ ref: `kill/W${w}`, version: ((await r.json()) as { version: number }).version, value });
          else if (node === b) bFailures++;
        } catch {
          if (node === b) bFailures++;
          else return; // node A is dead: stop sending to it
        }
      }
    };
    const loops = [...Array.from({ length: 8 }, (_, w) => loop(a, w)), ...Array.from({ length: 8 }, (_, w) => loop(b, 8 + w))];
    while (acked.length < 200) await new Promise((r) => setTimeout(r, 5));
    await a.kill9();
    const atKill = acked.length;
    while (acked.length < atKill + 200) await new Promise((r) => setTimeout(r, 5));
    stop = true;
    await Promise.all(loops);
    expect(bFailures).toBe(0);
    for (const x of acked) expect(await get(b, x.ref, x.version)).toEqual({ status: 200, value: x.value });
    const verify = await runCli(["audit", "verify", "--data-dir", dirs[2]!], { env });
    expect(verify.code, verify.stderr).toBe(0);
  });
});
