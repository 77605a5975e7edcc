import type { Kysely } from "kysely";
import type { AuditLog } from "../audit/log.js";
import type { BlobStore } from "../store/blobs/port.js";
import type { DB } from "../store/meta/schema.js";
import { blobKey } from "./sealed.js";

// Lifecycle TTL: versions that are no longer the latest of their secret and are older than the
// retention period are dropped — pointer first (durable), then blob — so old ciphertext does not
// outlive its usefulness even before its epoch is destroyed.
export async function pruneVersions(
  deps: { db: Kysely<DB>; durable: () => Promise<void>; blobs: BlobStore; audit: AuditLog },
  opts: { olderThanDays: number; actor?: string },
): Promise<{ versions: number }> {
  const cutoff = new Date(Date.now() - opts.olderThanDays * 86_400_000).toISOString();
  const rows = await deps.db
    .selectFrom("secret_versions as s")
    .select(["s.user_id", "s.agent", "s.name", "s.version", "s.epoch", "s.blob_id"])
    .where("s.created_at", "<", cutoff)
    .where((eb) =>
      eb(
        "s.version",
        "<",
        eb
          .selectFrom("secret_versions as m")
          .select((e2) => e2.fn.max("m.version").as("v"))
          .whereRef("m.user_id", "=", "s.user_id")
          .whereRef("m.agent", "=", "s.agent")
          .whereRef("m.name", "=", "s.name"),
      ),
    )
    .limit(10_000)
    .execute();
  if (rows.length === 0) return { versions: 0 };
  await deps.db.transaction().execute(async (trx) => {
    for (const r of rows) {
      await trx.deleteFrom("secret_versions").where("user_id", "=", r.user_id).where("agent", "=", r.agent).where("name", "=", r.name).where("version", "=", r.version).execute();
    }
    const byUser = new Map<string, number>();
    for (const r of rows) byUser.set(r.user_id, (byUser.get(r.user_id) ?? 0) + 1);
    for (const [userId, n] of byUser) {
      await deps.audit.append(trx, { userId, actor: opts.actor ?? "system", action: "VersionsExpired", target: "secrets", outcome: "success", metadata: { versions: n, older_than_days: opts.olderThanDays } });
    }
  });
  await deps.durable();
  for (const r of rows) if (r.blob_id && r.epoch !== null) await deps.blobs.delete(blobKey(r.user_id, r.agent, r.epoch, r.blob_id));
  return { versions: rows.length };
}
