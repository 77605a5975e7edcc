import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { BACKENDS, createPgDatabase } from "../helpers/backends.js";
import { tempDir, filesUnder as files } from "../helpers/runtime.js";
import { startServer, type ServerProc } from "../helpers/proc.js";
import { startS3, type S3Server } from "../helpers/s3.js";

// Plaintext-at-rest canary: 200 random values stored and read back through the API of the real
// server at debug log level; then no file under the data dir (database, WAL, SHM, blobs, key
// files) and no line of the server's output holds any of them, in raw, hex or base64 form.

describe.each(BACKENDS)("no plaintext at rest or in logs ($name)", (backend) => {
let dir: string;
let server: ServerProc;
let s3: S3Server | undefined;
let pg: { url: string; drop: () => Promise<void> } | undefined;
const canaries: string[] = [];

beforeAll(async () => {
  dir = tempDir();
  const env: Record<string, string> = { CLAWKEEP_LOG_LEVEL: "trace" };
  if (backend.dialect === "postgres") {
    pg = await createPgDatabase();
    env.CLAWKEEP_DATABASE_URL = pg.url;
  }
  if (backend.blobs === "s3") {
    s3 = await startS3();
    Object.assign(env, s3.env, { CLAWKEEP_BLOB_URL: `s3://${s3.bucket}/vault` });
  }
  server = await startServer(dir, env);
  const admin = { authorization: `Bearer ${server.adminToken()}`, "content-type": "application/json" };
  const u = await fetch(`${server.url}/v1/users`, { method: "POST", headers: admin, body: JSON.stringify({ name: "canary" }) });
  const { token } = (await u.json()) as { token: string };
  const auth = { authorization: `Bearer ${token}` };
  for (let a = 0; a < 4; a++) {
    await fetch(`${server.url}/v1/agents`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ name: `agent-${a}` }) });
  }
  for (let i = 0; i < 200; i++) {
    const c = `CANARY_${randomBytes(12).toString("hex")}`;
    canaries.push(c);
    const name = `SECRET_${i % 50}`;
    const put =
      i % 2 === 0
        ? await fetch(`${server.url}/v1/secrets/agent-${i % 4}/${name}`, { method: "PUT", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ value: c }) })
        : await fetch(`${server.url}/v1/secrets/agent-${i % 4}/${name}`, { method: "PUT", headers: { ...auth, "content-type": "application/octet-stream" }, body: c });
    expect(put.status).toBe(201);
    const { version } = (await put.json()) as { version: number };
    const get = await fetch(`${server.url}/v1/secrets/agent-${i % 4}/${name}?version=${version}`, { headers: auth });
    expect(((await get.json()) as { value: string }).value).toBe(c);
  }
  // One failing request with a canary in the body, to check error paths too.
  const bad = await fetch(`${server.url}/v1/secrets/agent-0/BAD-NAME`, { method: "PUT", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ value: canaries[0] }) });
  expect(bad.status).toBe(400);
  await server.stop();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await s3?.stop();
  await pg?.drop();
});


  it("scans every file under the data dir, the database, the object store and the server output", () => {
    const all = [...files(dir), ...(s3 ? files(s3.dir) : [])];
    expect(all.some((f) => f.endsWith(".enc") || f.includes(".enc"))).toBe(true);
    const haystacks = all.map((f) => ({ where: f, bytes: readFileSync(f) }));
    if (pg) {
      // Everything PostgreSQL holds for this database, as an operator with psql would see it.
      const dump = execFileSync("pg_dump", ["--data-only", pg.url], { maxBuffer: 256 << 20 });
      expect(dump.includes(Buffer.from("secret_versions"))).toBe(true);
      haystacks.push({ where: "pg_dump", bytes: dump });
    } else {
      expect(all.some((f) => f.endsWith("clawkeep.db"))).toBe(true);
    }
    haystacks.push({ where: "server output", bytes: Buffer.from(server.output()) });
    expect(server.output().length).toBeGreaterThan(1000);
    let hits = 0;
    for (const c of canaries) {
      const forms = [Buffer.from(c), Buffer.from(Buffer.from(c).toString("hex")), Buffer.from(Buffer.from(c).toString("base64")), Buffer.from(c, "utf16le")];
      for (const h of haystacks) for (const f of forms) if (h.bytes.includes(f)) hits++;
    }
    expect(hits).toBe(0);
  });
});
