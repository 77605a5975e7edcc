import { api, clientEnv, json } from "../client.js";
import { CliError, EXIT } from "../exit.js";

type Verify = { ok: boolean; count: number; seq?: number; reason?: string };

// Offline: straight from the configured meta store, read-only, never creating or migrating it.
async function verifyOffline(dataDir: string): Promise<Verify> {
  const { loadConfig } = await import("../../config.js");
  const { deriveKeySet, loadMasterKey, loadPreviousMasterKeys } = await import("../../keys/master.js");
  const { openMetaStoreReadOnly } = await import("../../store/meta/index.js");
  const { createAuditLog } = await import("../../audit/log.js");
  const cfg = loadConfig(process.env, { dataDir });
  const keys = deriveKeySet(loadMasterKey(cfg, { create: false }).key, loadPreviousMasterKeys(cfg));
  const meta = openMetaStoreReadOnly(cfg.databaseUrl);
  try {
    return await createAuditLog({ db: meta.db, dialect: meta.dialect, keys: keys.auditKeys, durable: () => meta.durable() }).verify();
  } finally {
    await meta.close();
  }
}

export async function verify(o: { dataDir?: string; json?: boolean }) {
  const r = o.dataDir ? await verifyOffline(o.dataDir) : json<Verify>(await api(clientEnv(), "GET", "/v1/audit/verify"));
  if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else if (r.ok) process.stdout.write(`audit log intact: ${r.count} events\n`);
  if (!r.ok) {
    throw new CliError(`audit log broken at event ${r.seq}: ${r.reason}`, EXIT.integrity, "integrity_error");
  }
}

export async function exportLog(_o: { format: string }) {
  const env = clientEnv();
  let after = 0;
  for (;;) {
    const page = json<{ events: { seq: number }[]; next: number | null }>(await api(env, "GET", `/v1/audit?after=${after}&limit=1000`));
    for (const e of page.events) process.stdout.write(`${JSON.stringify(e)}\n`);
    if (page.next === null) return;
    after = page.next;
  }
}
