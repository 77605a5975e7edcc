import path from "node:path";
import { accessSync, constants as fsc, existsSync, statSync } from "node:fs";
import { reasonOf } from "../../store/meta/errors.js";
import { CliError, EXIT } from "../exit.js";
import { operatorConfig } from "../offline.js";
import { createRuntime, migrationContext, openBlobStore } from "../../main.js";
import { derivePurposeKey } from "../../crypto/hkdf.js";
import { loadMasterKey } from "../../keys/master.js";
import { migrateToLatest, migrationStatus, openMetaStore } from "../../store/meta/index.js";

// Operator commands that work on the configured storage directly (no server needed): they read
// the same CLAWKEEP_* settings as `serve`.

const out = (o: { json?: boolean }, obj: unknown, text: string): void => {
  process.stdout.write(o.json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
};
const progress = (msg: string) => {
  if (process.stderr.isTTY) process.stderr.write(`\r${msg}`);
};

export async function migrate(o: { dataDir?: string; dryRun?: boolean; json?: boolean }) {
  const cfg = await operatorConfig(o.dataDir, { existing: false });
  const meta = openMetaStore(cfg.databaseUrl, { poolSize: 1 });
  try {
    const before = await migrationStatus(meta);
    const pending = before.filter((m) => !m.applied).map((m) => m.name);
    if (o.dryRun) return out(o, { pending, applied: before.filter((m) => m.applied).map((m) => m.name) }, pending.length ? `pending: ${pending.join(", ")}` : "up to date");
    // Migration 0007 MACs existing rows with a master-derived key: use the key when one is configured.
    let ctx = {};
    try {
      const master = loadMasterKey(cfg, { create: false });
      ctx = migrationContext(derivePurposeKey(master.key, "row"));
      master.key.fill(0);
    } catch {
      // no master key here: migrations that need one say so
    }
    const ran = await migrateToLatest(meta, ctx);
    out(o, { applied: ran }, ran.length ? `applied: ${ran.join(", ")}` : "up to date");
  } finally {
    await meta.close();
  }
}

export async function sweep(o: { dataDir?: string; grace: string; dryRun?: boolean; json?: boolean }) {
  const grace = Number(o.grace);
  if (!Number.isSafeInteger(grace) || grace < 0) throw new CliError("--grace must be a whole number of seconds (0 or more)", EXIT.usage, "bad_request");
  const cfg = await operatorConfig(o.dataDir);
  const rt = await createRuntime(cfg, { createMasterKey: false });
  const { sweepOrphans } = await import("../../vault/sweep.js");
  try {
    const r = await sweepOrphans(
      { db: rt.meta.db, blobs: rt.blobs, audit: rt.audit },
      { graceSeconds: grace, dryRun: Boolean(o.dryRun), onProgress: (p) => progress(`scanned ${p.scanned} blobs, ${p.orphans} orphans`) },
    );
    out(o, r, `scanned ${r.scanned} blobs: ${r.orphans} orphans, ${r.deleted} deleted, ${r.skippedYoung} younger than the grace period kept${o.dryRun ? " (dry run)" : ""}`);
  } finally {
    await rt.close();
  }
}

export async function backupCmd(o: { dataDir?: string; out: string; withBlobs?: boolean; json?: boolean }) {
  const dir = path.dirname(path.resolve(o.out));
  if (!existsSync(dir)) throw new CliError(`--out: the directory ${dir} does not exist`, EXIT.usage, "bad_request");
  const cfg = await operatorConfig(o.dataDir);
  const { backup } = await import("../../ops/backup.js");
  const meta = openMetaStore(cfg.databaseUrl, { poolSize: 2 });
  try {
    const r = await backup(meta, openBlobStore(cfg.blobUrl), path.resolve(o.out), {
      withBlobs: Boolean(o.withBlobs),
      onProgress: (s) => progress(`${s.rows} rows, ${s.blobs} blobs`),
    });
    out(o, { file: path.resolve(o.out), ...r }, `backup written to ${path.resolve(o.out)}: ${r.rows} rows, ${r.blobs} blobs`);
  } finally {
    await meta.close();
  }
}

export async function restoreCmd(o: { dataDir?: string; in: string; json?: boolean }) {
  // Checked before anything is created: a mistyped --in must not leave a new, migrated store behind.
  try {
    accessSync(o.in, fsc.R_OK);
    if (!statSync(o.in).isFile()) throw Object.assign(new Error("not a file"), { code: "EISDIR" });
  } catch (e) {
    throw new CliError(`--in: cannot read ${o.in} (${reasonOf((e as NodeJS.ErrnoException).code)})`, EXIT.usage, "bad_request");
  }
  const cfg = await operatorConfig(o.dataDir, { existing: false });
  const { restore } = await import("../../ops/backup.js");
  const meta = openMetaStore(cfg.databaseUrl, { poolSize: 2 });
  try {
    await migrateToLatest(meta);
    const r = await restore(meta, openBlobStore(cfg.blobUrl), path.resolve(o.in), { onProgress: (s) => progress(`${s.rows} rows, ${s.blobs} blobs`) });
    out(o, r, `restored ${r.rows} rows and ${r.blobs} blobs`);
  } finally {
    await meta.close();
  }
}
