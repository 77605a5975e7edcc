import type { Runtime } from "../main.js";

// Master-key rotation, online and resumable (runbook: docs/operations.md). Nodes run with the new
// key as CLAWKEEP_MASTER_KEY and the old one in CLAWKEEP_PREVIOUS_MASTER_KEYS, so both open what
// they wrapped; this job re-wraps every epoch DEK and re-MACs the audit log under the new key,
// each row by compare-and-swap, so it can stop and start again anywhere. Afterwards nothing
// depends on the old key and it can be discarded.

export async function rotateMasterKey(rt: Runtime, onProgress?: (p: { deks: number; events: number }) => void) {
  const { db } = rt.meta;
  const primary = rt.keys.primaryId;
  let deks = 0;
  for (;;) {
    const rows = await db
      .selectFrom("user_epochs")
      .select(["user_id", "epoch", "wrapped_dek", "key_id"])
      .where("key_id", "!=", primary)
      .where("state", "!=", "destroyed")
      .orderBy("user_id")
      .orderBy("epoch")
      .limit(500)
      .execute();
    if (rows.length === 0) break;
    for (const r of rows) {
      const next = rt.keyring.rewrap(r);
      const res = await db
        .updateTable("user_epochs")
        .set(next)
        .where("user_id", "=", r.user_id)
        .where("epoch", "=", r.epoch)
        .where("key_id", "=", r.key_id)
        .where("wrapped_dek", "=", r.wrapped_dek)
        .executeTakeFirst();
      deks += Number(res.numUpdatedRows);
    }
    await rt.meta.durable();
    onProgress?.({ deks, events: 0 });
  }
  const agentSecrets = await rt.agents.rewrapSecrets();
  const rows = (await rt.users.remacUsers()) + (await rt.support.remacGrants());
  // Worker-mode signing keys sealed under the master's seal purpose key, and the identity and
  // policy rows' MACs, move with it (an explicit WORKER_SEALING_KEY is left alone).
  const signer = rt.config.signerMode === "worker" ? await rt.resealSigningKeys() : undefined;
  const events = await rt.audit.rekey((n) => onProgress?.({ deks, events: n }));
  await rt.audit.record({ userId: null, actor: "operator", action: "MasterKeyRotated", target: `master/${primary}`, outcome: "success", metadata: { deks, agent_secrets: agentSecrets, rows, events, signing_keys: signer?.resealed ?? 0 } });
  return { keyId: primary, deks, agentSecrets, rows, events, signingKeys: signer?.resealed ?? 0 };
}
