// `clawkeep serve --data-dir D` where D does not exist yet, on both storage back ends: the
// directory is created (0700) and the first admin token is written into it. On PostgreSQL
// nothing else needs D before the token, which once crashed with a raw ENOENT after the admin
// user had been created (its token lost).
import { statSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createPgDatabase, PG_AVAILABLE } from "../helpers/backends.js";
import { startServer } from "../helpers/proc.js";
import { tempDir } from "../helpers/runtime.js";

describe("serve with a data dir that does not exist", () => {
  const work = tempDir("ck-serve-dir-");
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const cases: [string, () => Promise<{ env: Record<string, string>; drop: () => Promise<void> }>][] = [
    ["sqlite", async () => ({ env: {}, drop: async () => undefined })],
  ];
  if (PG_AVAILABLE) cases.push(["postgres", async () => {
    const db = await createPgDatabase();
    return { env: { CLAWKEEP_DATABASE_URL: db.url, CLAWKEEP_MASTER_KEY: Buffer.alloc(32, 7).toString("base64") }, drop: db.drop };
  }]);

  for (const [name, make] of cases) {
    it(`${name}: creates it (0700) and writes the admin token (0600) there`, async () => {
      const dir = path.join(work, name, "not", "yet");
      const storage = await make();
      const server = await startServer(dir, storage.env);
      try {
        expect(server.adminToken()).toMatch(/^ck_/);
        expect(statSync(dir).mode & 0o777).toBe(0o700);
        expect(statSync(path.join(dir, "admin.token")).mode & 0o777).toBe(0o600);
        const who = await fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${server.adminToken()}` } });
        expect(who.status).toBe(200);
      } finally {
        await server.stop();
        await storage.drop();
      }
    });
  }
});
