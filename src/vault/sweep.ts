import type { Kysely } from "kysely";
import type { AuditLog } from "../audit/log.js";
import type { BlobStore } from "../store/blobs/port.js";
import type { DB } from "../store/meta/schema.js";

// Orphan sweeper. A write stores its blob before its pointer, so a crash or a failed pointer
// insert can leave a blob nothing points to. Such blobs are removed once older than a grace
// period, which must exceed the longest write in flight (a young blob may still get its pointer).

const KEY_RE = /^([^/]+)\/([^/]+)\/(\d+)\/([0-9a-f]{32})\.enc$/;

export interface SweepResult {
  scanned: number;
  orphans: number;
  deleted: number;
  skippedYoung: number;
}

export async function sweepOrphans(
  deps: { db: Kysely<DB>; blobs: BlobStore; audit: AuditLog },
  opts: { graceSeconds: number; dryRun: boolean; onProgress?: (r: SweepResult) => void },
): Promise<SweepResult> {
  const res: SweepResult = { scanned: 0, orphans: 0, deleted: 0, skippedYoung: 0 };
  const cutoff = Date.now() - opts.graceSeconds * 1000;
  for await (const b of deps.blobs.list("")) {
    res.scanned++;
    const m = KEY_RE.exec(b.key);
    if (!m) continue; // not ours: never delete what we did not write
    const [, user, agent, epoch, blobId] = m;
    const hit = await deps.db
      .selectFrom("secret_versions")
      .select("version")
      .where("user_id", "=", user!)
      .where("agent", "=", agent!)
      .where("epoch", "=", Number(epoch))
      .where("blob_id", "=", blobId!)
      .executeTakeFirst();
    if (hit) continue;
    res.orphans++;
    if (b.modified.getTime() > cutoff) {
      res.skippedYoung++;
      continue;
    }
    if (!opts.dryRun) {
      await deps.blobs.delete(b.key);
      res.deleted++;
    }
    if (res.scanned % 1000 === 0) opts.onProgress?.(res);
  }
  if (res.deleted > 0) {
    await deps.audit.record({ userId: null, actor: "system", action: "OrphanBlobsSwept", target: "blobs", outcome: "success", metadata: { ...res } });
  }
  return res;
}
