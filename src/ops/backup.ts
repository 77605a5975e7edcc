import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, renameSync, unlinkSync } from "node:fs";
import { once } from "node:events";
import { createInterface } from "node:readline";
import type { Kysely } from "kysely";
import { ClawkeepError } from "../errors.js";
import type { BlobStore } from "../store/blobs/port.js";
import { migrationStatus, type MetaStore } from "../store/meta/index.js";
import type { DB } from "../store/meta/schema.js";

// Backup format v1 (docs/formats.md, "backup"): JSON lines — a header, one line per row of every
// table (taken in a single snapshot transaction, so the export is consistent while nodes keep
// serving), optionally one line per blob, and a trailer carrying the row and blob counts and a
// SHA-256 over every line before it. Only what is already at rest goes in: ciphertext, wrapped
// keys, token hashes. Restoring needs the same master key.

// Parents before children, so foreign keys hold as rows are inserted.
export const BACKUP_TABLES: { name: keyof DB; order: string[] }[] = [
  { name: "users", order: ["id"] },
  { name: "tokens", order: ["id"] },
  { name: "user_epochs", order: ["user_id", "epoch"] },
  { name: "secret_versions", order: ["user_id", "agent", "name", "version"] },
  { name: "secret_heads", order: ["user_id", "agent", "name"] },
  { name: "audit_events", order: ["seq"] },
  { name: "audit_head", order: ["id"] },
  { name: "single_use", order: ["scope", "id"] },
  { name: "agents", order: ["id"] },
  { name: "support_grants", order: ["id"] },
  { name: "credential_passwords", order: ["user_id"] },
  { name: "identities", order: ["id"] },
  { name: "key_backups", order: ["identity_id"] },
  { name: "auth_challenges", order: ["id"] },
  { name: "telegram_links", order: ["telegram_user_id"] },
  { name: "identity_policies", order: ["identity_id"] },
  { name: "signer_spends", order: ["ticket_id"] },
  { name: "signer_holds", order: ["subject"] },
  { name: "rate_limits", order: ["key"] },
];
const PAGE = 1000;

export interface BackupSummary {
  rows: number;
  blobs: number;
}

export async function backup(meta: MetaStore, blobs: BlobStore, file: string, opts: { withBlobs: boolean; onProgress?: (s: BackupSummary) => void }): Promise<BackupSummary> {
  const tmp = `${file}.tmp-${process.pid}`;
  const out = createWriteStream(tmp, { mode: 0o600 });
  const hash = createHash("sha256");
  const write = async (obj: unknown) => {
    const line = `${JSON.stringify(obj)}\n`;
    hash.update(line);
    if (!out.write(line)) await once(out, "drain");
  };
  const sum: BackupSummary = { rows: 0, blobs: 0 };
  try {
    const migrations = (await migrationStatus(meta)).filter((m) => m.applied).map((m) => m.name);
    await write({ format: "clawkeep-backup", version: 1, created_at: new Date().toISOString(), migrations, with_blobs: opts.withBlobs });
    const keys: string[] = [];
    await meta.db
      .transaction()
      .setIsolationLevel(meta.dialect === "postgres" ? "repeatable read" : "serializable")
      .execute(async (trx) => {
        for (const t of BACKUP_TABLES) {
          for (let offset = 0; ; offset += PAGE) {
            let q = (trx as unknown as Kysely<Record<string, Record<string, unknown>>>).selectFrom(t.name).selectAll();
            for (const col of t.order) q = q.orderBy(col);
            const rows = await q.limit(PAGE).offset(offset).execute();
            for (const row of rows) {
              await write({ table: t.name, row });
              if (t.name === "secret_versions" && row.blob_id) keys.push(`${row.user_id}/${row.agent}/${row.epoch}/${row.blob_id}.enc`);
            }
            sum.rows += rows.length;
            opts.onProgress?.(sum);
            if (rows.length < PAGE) break;
          }
        }
      });
    if (opts.withBlobs) {
      for (const key of keys) {
        const data = await blobs.get(key);
        if (!data) throw new ClawkeepError("integrity_error", `blob ${key} named by a pointer is missing; backup aborted`);
        await write({ blob: key, data: data.toString("base64") });
        sum.blobs++;
        if (sum.blobs % 100 === 0) opts.onProgress?.(sum);
      }
    }
    const line = `${JSON.stringify({ end: true, rows: sum.rows, blobs: sum.blobs, sha256: hash.digest("hex") })}\n`;
    out.write(line);
    out.end();
    await once(out, "finish");
    renameSync(tmp, file);
    return sum;
  } catch (e) {
    out.destroy();
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
}

async function* lines(file: string): AsyncGenerator<string> {
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const l of rl) if (l) yield l;
}

/** Reads the whole file once to check its trailer before anything is written. */
async function check(file: string): Promise<{ header: { version: number; migrations: string[] }; rows: number; blobs: number }> {
  type Header = { format?: string; version?: number; migrations?: string[] };
  type Trailer = { end?: boolean; rows: number; blobs: number; sha256: string };
  const hash = createHash("sha256");
  let header: Header | undefined;
  let trailer: Trailer | undefined;
  let rows = 0;
  let blobCount = 0;
  let n = 0;
  for await (const l of lines(file)) {
    n++;
    if (trailer) throw new ClawkeepError("bad_request", "backup has data after its trailer");
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(l) as Record<string, unknown>;
    } catch {
      throw new ClawkeepError("bad_request", `backup line ${n} is not JSON (corrupted or truncated)`);
    }
    if (obj.end === true) {
      trailer = obj as unknown as Trailer;
      continue;
    }
    hash.update(`${l}\n`);
    if (!header) header = obj as Header;
    else if ("table" in obj) rows++;
    else if ("blob" in obj) blobCount++;
  }
  if (header?.format !== "clawkeep-backup" || header.version !== 1) throw new ClawkeepError("bad_request", "not a clawkeep backup (format v1)");
  if (!trailer) throw new ClawkeepError("bad_request", "backup is truncated (no trailer)");
  if (trailer.sha256 !== hash.digest("hex") || trailer.rows !== rows || trailer.blobs !== blobCount) throw new ClawkeepError("integrity_error", "backup checksum does not match its contents");
  return { header: { version: header.version, migrations: header.migrations ?? [] }, rows, blobs: blobCount };
}

export async function restore(meta: MetaStore, blobs: BlobStore, file: string, opts: { onProgress?: (s: BackupSummary) => void } = {}): Promise<BackupSummary> {
  const { header } = await check(file);
  const known = new Set((await migrationStatus(meta)).map((m) => m.name));
  const unknown = header.migrations.filter((m) => !known.has(m));
  if (unknown.length) throw new ClawkeepError("bad_request", `backup comes from a newer schema (${unknown.join(", ")}); upgrade clawkeep first`);
  const existing = await meta.db.selectFrom("users").select("id").limit(1).executeTakeFirst();
  if (existing) throw new ClawkeepError("conflict", "the target meta store is not empty; restore only into a fresh deployment");
  const sum: BackupSummary = { rows: 0, blobs: 0 };
  // Blobs first (a blob without a pointer is harmless and swept later), then every row in one
  // transaction: a failed restore leaves the meta store empty, never half-restored.
  for await (const l of lines(file)) {
    const obj = JSON.parse(l) as { blob?: string; data?: string };
    if (obj.blob && obj.data !== undefined) {
      await blobs.put(obj.blob, Buffer.from(obj.data, "base64"));
      sum.blobs++;
    }
  }
  await meta.db.transaction().execute(async (trx) => {
    const anyTrx = trx as unknown as Kysely<Record<string, Record<string, unknown>>>;
    let batch: { table: string; rows: Record<string, unknown>[] } | null = null;
    const flush = async () => {
      if (batch && batch.rows.length) await anyTrx.insertInto(batch.table).values(batch.rows).execute();
      batch = null;
    };
    for await (const l of lines(file)) {
      const obj = JSON.parse(l) as { table?: string; row?: Record<string, unknown> };
      if (!obj.table || !obj.row) continue;
      if (!BACKUP_TABLES.some((t) => t.name === obj.table)) throw new ClawkeepError("bad_request", `backup names an unknown table ${obj.table}`);
      if (batch && (batch.table !== obj.table || batch.rows.length >= 50)) await flush();
      batch ??= { table: obj.table, rows: [] };
      batch.rows.push(obj.row);
      sum.rows++;
      if (sum.rows % 1000 === 0) opts.onProgress?.(sum);
    }
    await flush();
  });
  return sum;
}
