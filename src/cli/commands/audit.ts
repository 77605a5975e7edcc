import { api, clientEnv, json } from "../client.js";
import { CliError, EXIT } from "../exit.js";

type Verify = { ok: boolean; count: number; seq?: number; reason?: string };

// Offline: straight from the configured meta store, read-only, never creating or migrating it.
async function openOffline(dataDir: string | undefined) {
  const { loadConfig } = await import("../../config.js");
  const { deriveKeySet, loadMasterKey, loadPreviousMasterKeys } = await import("../../keys/master.js");
  const { openMetaStoreReadOnly } = await import("../../store/meta/index.js");
  const { createAuditLog } = await import("../../audit/log.js");
  const { assertMastersOpenStore } = await import("../../keys/keyring.js");
  const cfg = loadConfig(process.env, { dataDir });
  // The store first: a data dir that does not exist is the problem to name, not its missing key.
  const meta = openMetaStoreReadOnly(cfg.databaseUrl);
  let keys;
  try {
    keys = deriveKeySet(loadMasterKey(cfg, { create: false }).key, loadPreviousMasterKeys(cfg));
    // A wrong key would otherwise read as "audit log broken at event 1" (exit 5), a false alarm.
    await assertMastersOpenStore(meta.db, keys.keks.map((k) => k.keyId), cfg.masterKey ? "CLAWKEEP_MASTER_KEY" : `${cfg.dataDir}/master.key`);
  } catch (e) {
    await meta.close();
    throw e;
  }
  const audit = createAuditLog({ db: meta.db, dialect: meta.dialect, keys: keys.auditKeys, durable: () => meta.durable() });
  return { keys, meta, audit };
}

async function checkAgainst(file: string, off: Awaited<ReturnType<typeof openOffline>>, count: number, pinned?: string): Promise<Verify & { checkpoint?: object }> {
  const { readFileSync } = await import("node:fs");
  const { checkpointPublicKey, checkpointSignatureValid } = await import("../../audit/checkpoint.js");
  let cp;
  try {
    cp = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    throw new CliError(`cannot read checkpoint ${file}`, EXIT.usage, "bad_request");
  }
  const bad = (reason: string): Verify => ({ ok: false, count, seq: Math.min(Number(cp.size) || 0, count), reason: `checkpoint: ${reason}` });
  if (cp.format !== "clawkeep-checkpoint" || cp.version !== 1 || !Number.isSafeInteger(cp.size) || cp.size < 1) return bad("not a clawkeep checkpoint v1");
  // The signature only counts if the key is one we trust: a loaded master key's checkpoint key,
  // or one the user pins explicitly (e.g. from before a master-key rotation).
  const trusted = [...off.keys.checkpointSeeds.map((s) => checkpointPublicKey(s)), ...(pinned ? [pinned] : [])];
  if (!trusted.includes(cp.public_key)) return bad("not signed by this deployment's master key (pin another with --public-key)");
  if (!checkpointSignatureValid(cp)) return bad("signature does not verify");
  if (cp.size > count) return bad(`the log has ${count} events but the checkpoint covers ${cp.size} (rolled back or truncated)`);
  const th = await off.audit.treeHead(cp.size);
  if (th.root !== cp.root || th.head !== cp.head) return bad(`the first ${cp.size} events no longer hash to the checkpoint's root (history rewritten)`);
  const ours = checkpointPublicKey(off.keys.checkpointSeed) === cp.public_key;
  return { ok: true, count, checkpoint: { size: cp.size, time: cp.time, signed_by_current_master_key: ours } };
}

export async function verify(o: { dataDir?: string; json?: boolean; checkpoint?: string; publicKey?: string }) {
  let r: Verify & { checkpoint?: object };
  if (o.dataDir || o.checkpoint) {
    const off = await openOffline(o.dataDir);
    try {
      r = await off.audit.verify();
      if (r.ok && o.checkpoint) r = await checkAgainst(o.checkpoint, off, r.count, o.publicKey);
    } finally {
      await off.meta.close();
    }
  } else {
    const online = json<Verify | { ok: boolean; verified_at: string }>(await api(clientEnv(), "GET", "/v1/audit/verify"));
    // A user is told only whether the chain is intact and when it was checked: its length and
    // where it breaks tell of every user's activity (an admin's answer has both).
    if ("verified_at" in online) {
      if (o.json) process.stdout.write(`${JSON.stringify(online)}\n`);
      else if (online.ok) process.stdout.write(`audit log intact (checked ${online.verified_at})\n`);
      if (!online.ok) throw new CliError(`audit log broken (checked ${online.verified_at}): ask your operator where`, EXIT.integrity, "integrity_error");
      return;
    }
    r = online;
  }
  if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else if (r.ok) process.stdout.write(`audit log intact: ${r.count} events${o.checkpoint ? ", extends the checkpoint" : ""}\n`);
  if (!r.ok) {
    throw new CliError(`audit log broken at event ${r.seq}: ${r.reason}`, EXIT.integrity, "integrity_error");
  }
}

export async function checkpoint(o: { dataDir?: string; out?: string }) {
  const { signCheckpoint } = await import("../../audit/checkpoint.js");
  const off = await openOffline(o.dataDir);
  try {
    const v = await off.audit.verify();
    if (!v.ok) throw new CliError(`refusing to sign a broken log (event ${v.seq}: ${v.reason})`, EXIT.integrity, "integrity_error");
    const cp = signCheckpoint(off.keys.checkpointSeed, await off.audit.treeHead());
    const text = `${JSON.stringify(cp, null, 2)}\n`;
    if (o.out) {
      const { writeFileSync } = await import("node:fs");
      writeFileSync(o.out, text, { mode: 0o644 });
      process.stderr.write(`checkpoint of ${cp.size} events written to ${o.out}; keep a copy where the operator cannot change it\n`);
    } else process.stdout.write(text);
  } finally {
    await off.meta.close();
  }
}

/**
 * `audit export`: the events the token may read (an admin's: all), as JSON lines, raw or in ECS
 * field names for a SIEM. Resumable with --after (the last `seq` written is printed to stderr);
 * --follow keeps polling for new events, as a log shipper would.
 */
export async function exportLog(o: { format?: string; after?: string; follow?: boolean; intervalMs?: number }) {
  const { ecsLine } = await import("../../audit/siem.js");
  const format = o.format ?? "jsonl";
  if (format !== "ecs" && format !== "jsonl") throw new CliError("--format must be ecs or jsonl", EXIT.usage, "bad_request");
  let after = o.after === undefined ? 0 : Number(o.after);
  if (!Number.isSafeInteger(after) || after < 0) throw new CliError("--after must be a non-negative integer (an event seq)", EXIT.usage, "bad_request");
  const env = clientEnv();
  let stop = false;
  process.once("SIGINT", () => (stop = true));
  process.once("SIGTERM", () => (stop = true));
  for (;;) {
    const page = json<{ events: Parameters<typeof ecsLine>[0][]; next: number | null }>(await api(env, "GET", `/v1/audit?after=${after}&limit=1000`));
    for (const e of page.events) {
      if (!process.stdout.write(format === "ecs" ? ecsLine(e) : `${JSON.stringify(e)}\n`)) await new Promise((r) => process.stdout.once("drain", r));
      after = e.seq;
    }
    if (page.next !== null) continue;
    if (!o.follow || stop) break;
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 2000));
    if (stop) break;
  }
  process.stderr.write(`audit export: up to seq ${after}; resume with --after ${after}\n`);
}

/** `audit schema`: every table and column of the configured meta store, from its own catalogue. */
export async function schema(o: { dataDir?: string; json?: boolean }) {
  const { loadConfig } = await import("../../config.js");
  const { openMetaStoreReadOnly } = await import("../../store/meta/index.js");
  const { describeSchema } = await import("../../store/meta/introspect.js");
  const cfg = loadConfig(process.env, { dataDir: o.dataDir });
  const meta = openMetaStoreReadOnly(cfg.databaseUrl);
  try {
    const tables = await describeSchema(meta.db as never, meta.dialect);
    if (o.json) return void process.stdout.write(`${JSON.stringify({ dialect: meta.dialect, tables })}\n`);
    process.stdout.write(`meta store (${meta.dialect}): ${tables.length} tables\n`);
    for (const t of tables) process.stdout.write(`${t.table}\n${t.columns.map((c) => `  ${c.name}\t${c.type}`).join("\n")}\n`);
  } finally {
    await meta.close();
  }
}
