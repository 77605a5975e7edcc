import { describe, expect, it } from "vitest";
import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadConfig } from "../../src/config.js";
import { createRuntime } from "../../src/main.js";
import { tempDir } from "../helpers/runtime.js";

// Losing master.key must not be papered over with a fresh key: over a store that holds
// encrypted data the server refuses to start and says why.
describe("a lost master key", () => {
  it("is never silently replaced when the store holds data", async () => {
    const dir = tempDir();
    try {
      const cfg = loadConfig({ CLAWKEEP_DATA_DIR: dir });
      const rt = await createRuntime(cfg, { createMasterKey: true });
      expect(rt.masterOrigin).toBe("created");
      const { user } = await rt.users.createUser({ userId: null, actor: "test" }, "alice");
      await rt.agents.create({ userId: user.id, actor: user.id }, "bot");
      await rt.secrets.put({ userId: user.id, actor: user.id }, "bot", "K", Buffer.from("v"));
      await rt.close();

      renameSync(path.join(dir, "master.key"), path.join(dir, "master.key.moved"));
      await expect(createRuntime(cfg, { createMasterKey: true })).rejects.toThrow(/CLAWKEEP_MASTER_KEY/);
      expect(existsSync(path.join(dir, "master.key"))).toBe(false);

      renameSync(path.join(dir, "master.key.moved"), path.join(dir, "master.key"));
      const again = await createRuntime(cfg, { createMasterKey: true });
      expect((await again.secrets.get({ userId: user.id, actor: user.id }, "bot", "K")).value.toString()).toBe("v");
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is not made when the store cannot be read (an unreachable or damaged database is not an empty one)", async () => {
    const dir = tempDir();
    try {
      // Nothing listens on port 1: the database cannot be asked whether it holds data.
      const down = loadConfig({ CLAWKEEP_DATA_DIR: dir, CLAWKEEP_DATABASE_URL: "postgres://clawkeep@127.0.0.1:1/clawkeep" });
      await expect(createRuntime(down, { createMasterKey: true })).rejects.toThrow();
      expect(existsSync(path.join(dir, "master.key"))).toBe(false);
      writeFileSync(path.join(dir, "clawkeep.db"), Buffer.alloc(8192, 0x5a));
      await expect(createRuntime(loadConfig({ CLAWKEEP_DATA_DIR: dir }), { createMasterKey: true })).rejects.toThrow();
      expect(existsSync(path.join(dir, "master.key"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
