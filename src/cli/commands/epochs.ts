import { operatorConfig } from "../offline.js";
import { ClawkeepError } from "../../errors.js";
import { createRuntime, type Runtime } from "../../main.js";
import { CliError, EXIT } from "../exit.js";
import { reasonOf } from "../../store/meta/errors.js";

// Operator commands for epochs and master keys. They run against the configured storage (the
// same CLAWKEEP_* settings as `serve`) and are safe while servers keep serving.

const out = (o: { json?: boolean }, obj: unknown, text: string): void => {
  process.stdout.write(o.json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
};
// Progress on a terminal as one rewritten line; as plain lines (at most one a second) otherwise.
function progress(label: string) {
  let last = 0;
  return (p: { total: number; moved: number; skipped: number; failed: number }) => {
    const done = p.moved + p.skipped + p.failed;
    const line = `${label}: ${done}/${p.total} (moved ${p.moved}, skipped ${p.skipped}, failed ${p.failed})`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
    else if (Date.now() - last > 1000 || done === p.total) {
      last = Date.now();
      process.stderr.write(`${line}\n`);
    }
  };
}

async function withRuntime<T>(o: { dataDir?: string }, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await createRuntime(await operatorConfig(o.dataDir), { createMasterKey: false });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

async function usersOf(rt: Runtime, o: { user?: string; all?: boolean }): Promise<{ id: string; name: string }[]> {
  if (Boolean(o.user) === Boolean(o.all)) throw new CliError("give exactly one of --user NAME or --all", EXIT.usage, "bad_request");
  let q = rt.meta.db.selectFrom("users").select(["id", "name"]).orderBy("name");
  if (o.user) q = q.where("name", "=", o.user);
  const rows = await q.execute();
  if (o.user && rows.length === 0) throw new CliError(`no user named ${o.user}`, EXIT.notFound, "not_found");
  return rows;
}

type Sel = { dataDir?: string; user?: string; all?: boolean; json?: boolean };

export async function ls(o: Sel) {
  await withRuntime(o, async (rt) => {
    const res = [];
    for (const u of await usersOf(rt, o)) res.push({ user: u.name, epochs: await rt.epochs.list(u.id) });
    out(o, res, res.map((r) => r.epochs.map((e) => `${r.user}\tepoch ${e.epoch}\t${e.state}\t${e.pointers} versions\t${e.seals} seals\t${e.createdAt}`).join("\n")).filter(Boolean).join("\n"));
  });
}

export async function rotate(o: Sel) {
  await withRuntime(o, async (rt) => {
    const res = [];
    for (const u of await usersOf(rt, o)) res.push({ user: u.name, ...((await rt.epochs.rotate(u.id, "manual", "operator")) ?? { from: null, to: null }) });
    out(o, res, res.map((r) => `${r.user}: epoch ${r.from} → ${r.to}`).join("\n"));
  });
}

export async function reencrypt(o: Sel) {
  await withRuntime(o, async (rt) => {
    const users = await usersOf(rt, o);
    const r = await rt.epochs.reencrypt(users.map((u) => u.id), progress("re-encrypting"));
    if (process.stderr.isTTY) process.stderr.write("\n");
    out(o, r, `re-encrypted ${r.moved} versions (${r.skipped} already current, ${r.failed} failed their integrity check)`);
    if (r.failed > 0) throw new CliError(`${r.failed} versions could not be re-encrypted (integrity errors)`, EXIT.integrity, "integrity_error");
  });
}

export async function destroy(o: Sel & { before: string; forceReencrypt?: boolean }) {
  const before = Number(o.before);
  if (!Number.isSafeInteger(before) || before < 2) throw new CliError("--before must be an epoch number ≥ 2", EXIT.usage, "bad_request");
  await withRuntime(o, async (rt) => {
    const res = [];
    for (const u of await usersOf(rt, o)) {
      try {
        res.push({ user: u.name, ...(await rt.epochs.destroyBefore(u.id, before, { forceReencrypt: Boolean(o.forceReencrypt), actor: "operator", onProgress: progress(`re-encrypting ${u.name}`) })) });
      } catch (e) {
        if (e instanceof ClawkeepError && o.all && e.code === "bad_request") continue; // that user has not reached epoch `before` yet
        throw e;
      }
    }
    out(o, res, res.map((r) => `${r.user}: destroyed epochs [${r.destroyed.join(", ")}], deleted ${r.blobsDeleted} blobs, re-encrypted ${r.reencrypted}`).join("\n"));
  });
}

export async function masterRotate(o: { dataDir?: string; json?: boolean }) {
  const { rotateMasterKey } = await import("../../ops/master-rotate.js");
  await withRuntime(o, async (rt) => {
    if (rt.keys.keks.length < 2) {
      throw new CliError("set CLAWKEEP_MASTER_KEY to the new key and CLAWKEEP_PREVIOUS_MASTER_KEYS to the old one(s); see docs/operations.md", EXIT.config, "config_invalid");
    }
    const r = await rotateMasterKey(rt, (p) => {
      if (process.stderr.isTTY) process.stderr.write(`\rre-wrapped ${p.deks} data keys, re-MACed ${p.events} audit events`);
    });
    if (process.stderr.isTTY) process.stderr.write("\n");
    out(o, r, `re-wrapped ${r.deks} data keys and re-MACed ${r.events} audit events under master key ${r.keyId}; nothing depends on the previous key(s) any more`);
  });
}

export async function newMasterKey(o: { out: string }) {
  const { randomBytes } = await import("node:crypto");
  const { writeFileSync } = await import("node:fs");
  try {
    writeFileSync(o.out, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`--out: cannot create ${o.out} (${code === "EEXIST" ? "it already exists; a key file is never overwritten" : reasonOf(code)})`, EXIT.usage, "bad_request");
  }
  process.stdout.write(`wrote a new master key to ${o.out} (0600)\n`);
}
