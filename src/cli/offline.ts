import type { Config } from "../config.js";
import { ClawkeepError } from "../errors.js";

// Settings for the operator commands that work on the storage directly (no server). They share
// two promises with `serve`: what they create is the owner's alone (umask 077, as serve sets), and
// a command meant for an existing deployment never creates one: a mistyped --data-dir used to
// leave an empty directory and database behind and then fail with a driver message
// ("no such table: users") or a complaint about master.key.

export async function operatorConfig(dataDir: string | undefined, opts: { existing: boolean } = { existing: true }): Promise<Config> {
  process.umask(0o077);
  const { loadConfig } = await import("../config.js");
  const cfg = loadConfig(process.env, { dataDir });
  if (opts.existing) await requireStore(cfg.databaseUrl);
  return cfg;
}

async function requireStore(url: string): Promise<void> {
  const { migrationStatus, openMetaStoreReadOnly } = await import("../store/meta/index.js");
  const meta = openMetaStoreReadOnly(url);
  try {
    if (!(await migrationStatus(meta)).some((m) => m.applied)) {
      throw new ClawkeepError("config_invalid", "the meta store holds no Clawkeep data: check --data-dir (CLAWKEEP_DATA_DIR) or CLAWKEEP_DATABASE_URL; `clawkeep serve` or `clawkeep migrate` creates a new one");
    }
  } finally {
    await meta.close();
  }
}
