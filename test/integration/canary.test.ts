import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { tempDir } from "../helpers/runtime.js";
import { startServer, type ServerProc } from "../helpers/proc.js";

// Plaintext-at-rest canary: 200 random values stored and read back through the API of the real
// server at debug log level; then no file under the data dir (database, WAL, SHM, blobs, key
// files) and no line of the server's output holds any of them, in raw, hex or base64 form.

let dir: string;
let server: ServerProc;
const canaries: string[] = [];

beforeAll(async () => {
  dir = tempDir();
  server = await startServer(dir, { CLAWKEEP_LOG_LEVEL: "trace" });
  const admin = { authorization: `Bearer ${server.adminToken()}`, "content-type": "application/json" };
  const u = await fetch(`${server.url}/v1/users`, { method: "POST", headers: admin, body: JSON.stringify({ name: "canary" }) });
  const { token } = (await u.json()) as { token: string };
  const auth = { authorization: `Bearer ${token}` };
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
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function files(d: string): string[] {
  return readdirSync(d).flatMap((f) => {
    const p = path.join(d, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe("no plaintext at rest or in logs", () => {
  it("scans every file under the data dir and the server output", () => {
    const all = files(dir);
    expect(all.some((f) => f.endsWith(".enc"))).toBe(true);
    expect(all.some((f) => f.endsWith("clawkeep.db"))).toBe(true);
    const haystacks = all.map((f) => ({ where: path.relative(dir, f), bytes: readFileSync(f) }));
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
