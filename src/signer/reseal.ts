import type { Kysely } from "kysely";
import { ClawkeepError } from "../errors.js";
import { rowMacs } from "../keys/row-mac.js";
import type { AuditLog } from "../audit/log.js";
import type { DB, IdentitiesTable, IdentityPoliciesTable } from "../store/meta/schema.js";
import type { KeyBackend } from "./key-backend.js";
import { identityRowMac } from "./identities.js";
import { policyRowMac } from "./guards.js";

// Sealing-key rotation, online and resumable (the seed's missing "master key rotation tooling"):
// with the new key as WORKER_SEALING_KEY (or a new master key) and the old one still loaded
// (WORKER_PREVIOUS_SEALING_KEYS, CLAWKEEP_PREVIOUS_MASTER_KEYS), every backup not under the
// primary key is opened and sealed again under it, each row by compare-and-swap, so the job can
// stop and start again anywhere while nodes keep signing. It also re-MACs identity and policy rows
// under the primary row key, for a master-key rotation.

export interface ResealProgress {
  total: number;
  resealed: number;
  current: number;
  failed: number;
}

export async function resealAll(deps: { db: Kysely<DB>; durable: () => Promise<void>; audit: AuditLog; keys: KeyBackend; primaryKeyId: string | undefined; rowKeys: Buffer[] }, onProgress?: (p: ResealProgress) => void) {
  const { db } = deps;
  if (deps.keys.mode !== "worker") throw new ClawkeepError("bad_request", "reseal rotates the worker sealing key; in enclave mode the keys are sealed by signerd");
  const rows = await db
    .selectFrom("key_backups")
    .innerJoin("identities", "identities.id", "key_backups.identity_id")
    .select(["key_backups.identity_id", "key_backups.sealed_key", "key_backups.key_id", "key_backups.format", "identities.user_id", "identities.curve", "identities.public_key"])
    .orderBy("key_backups.identity_id")
    .execute();
  const p: ResealProgress = { total: rows.length, resealed: 0, current: 0, failed: 0 };
  for (const r of rows) {
    if (r.format === "ck-sk1" && r.key_id === deps.primaryKeyId) {
      p.current++;
    } else {
      try {
        const t = await deps.keys.restore({ user: r.user_id, identityId: r.identity_id, curve: r.curve }, r.public_key, r.sealed_key);
        if (t.resealed) {
          const n = await db
            .updateTable("key_backups")
            .set({ sealed_key: t.resealed.sealed, key_id: t.resealed.keyId, format: "ck-sk1", updated_at: new Date().toISOString() })
            .where("identity_id", "=", r.identity_id)
            .where("sealed_key", "=", r.sealed_key)
            .executeTakeFirst();
          if (Number(n.numUpdatedRows) === 1) p.resealed++;
          else p.current++; // someone else (a restore, another reseal) moved it first
        } else p.current++;
      } catch (e) {
        if (!(e instanceof ClawkeepError)) throw e;
        p.failed++;
        await deps.audit.record({ userId: r.user_id, actor: "operator", action: "IdentityResealFailed", target: `identity/${r.identity_id}`, outcome: "failure", metadata: { code: e.code } });
      }
    }
    onProgress?.({ ...p });
  }
  await deps.durable();
  const idMacs = rowMacs<IdentitiesTable>(deps.rowKeys, (k, r) => identityRowMac(k, r), "signer");
  const ids = await db.selectFrom("identities").selectAll().execute();
  const remacced = await idMacs.remac(ids, async (r, next) => (await db.updateTable("identities").set({ mac: next }).where("id", "=", r.id).where("mac", "=", r.mac).executeTakeFirst()).numUpdatedRows);
  const polMacs = rowMacs<IdentityPoliciesTable>(deps.rowKeys, (k, r) => policyRowMac(k, r), "signer policy");
  const pols = await db.selectFrom("identity_policies").selectAll().execute();
  const polRemacced = await polMacs.remac(pols, async (r, next) => (await db.updateTable("identity_policies").set({ mac: next }).where("identity_id", "=", r.identity_id).where("mac", "=", r.mac).executeTakeFirst()).numUpdatedRows);
  await deps.durable();
  await deps.audit.record({ userId: null, actor: "operator", action: "SigningKeysResealed", target: `seal/${deps.primaryKeyId ?? "?"}`, outcome: p.failed ? "failure" : "success", metadata: { ...p, rows_remacced: remacced + polRemacced } });
  return { ...p, rowsRemacced: remacced + polRemacced };
}
