import { describe, expect, it } from "vitest";
import { describeSchema } from "../../src/store/meta/introspect.js";
import { migrateToLatest, openSqlite } from "../../src/store/meta/index.js";
import { BACKUP_TABLES } from "../../src/ops/backup.js";

// A table the backup leaves out is data a restore silently loses (an identity's sealed key, say):
// every table the migrations create must be in the backup, and nothing else.

describe("backup coverage", () => {
  it("exports every table of the migrated schema", async () => {
    const meta = openSqlite(":memory:");
    try {
      await migrateToLatest(meta);
      const tables = (await describeSchema(meta.db as unknown as Parameters<typeof describeSchema>[0], "sqlite")).map((t) => t.table).filter((t) => !t.startsWith("kysely_"));
      expect(BACKUP_TABLES.map((t) => t.name as string).sort()).toEqual(tables.sort());
    } finally {
      await meta.close();
    }
  });
});
