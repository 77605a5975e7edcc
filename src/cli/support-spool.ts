import { chownSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from "node:fs";
import path from "node:path";
import { BATCH_TARGET_BYTES, isRecord, MAX_BATCH_RECORDS, parseRecord, type SupportRecord } from "../agents/support-records.js";
import { RECORDS_DIR, REJECTED_DIR, WRAPPER_NAME, wrapperScript } from "../agents/support-wrapper.js";
import { checkWrapperPath } from "../agents/ssh-keys.js";
import { writeAtomically } from "./atomic-file.js";
import { api, json, type ClientEnv } from "./client.js";
import { CliError, EXIT } from "./exit.js";

// The agent's half of support-session logging (formats §24). The spool is a directory:
//   <spool>/wrapper     0700  the forced command, rewritten on every reconcile pass
//   <spool>/records/    0700  one 0600 file per record, written by the wrapper
//   <spool>/rejected/   0700  records the server refused for good, kept for the machine's owner
// A record file is deleted only after the server has acknowledged its id (accepted or already
// seen), so a crash anywhere loses nothing and a resend carries the same id, which the server
// counts once.

const RECORD_FILE_RE = /^\d{1,12}-[0-9a-f]{32}\.json$/;
/** Refusals that will not change on a retry: those records go to rejected/ instead of blocking the spool. */
const FINAL = new Set(["support_grant_not_found", "support_grant_ended", "support_record_invalid"]);

export interface Spool {
  dir: string;
  wrapper: string;
  records: string;
  rejected: string;
}

export const defaultSpoolDir = (authorizedKeys: string) => path.join(path.dirname(path.resolve(authorizedKeys)), "clawkeep-support");

function writeIfChanged(file: string, text: string, mode: number) {
  try {
    if (readFileSync(file, "utf8") === text && (statSync(file).mode & 0o777) === mode) return;
  } catch {
    // absent or unreadable: written below
  }
  writeAtomically(file, text, mode);
}

/**
 * Creates the spool and (re)writes the wrapper. Run as root for another account's
 * authorized_keys, the spool is handed to that account: the wrapper runs as the login user and
 * must be able to write its records.
 */
/** The wrapper's path for a spool directory; a usage error (before anything is touched) if it cannot go in command="…". */
export function spoolWrapperPath(dirIn: string): string {
  try {
    return checkWrapperPath(path.join(path.resolve(dirIn), WRAPPER_NAME));
  } catch (e) {
    throw new CliError(`--spool-dir: ${(e as Error).message}`, EXIT.usage, "bad_request");
  }
}

export function prepareSpool(dirIn: string, owner?: { uid: number; gid: number }): Spool {
  const dir = path.resolve(dirIn);
  const s: Spool = { dir, wrapper: spoolWrapperPath(dir), records: path.join(dir, RECORDS_DIR), rejected: path.join(dir, REJECTED_DIR) };
  try {
    for (const d of [s.dir, s.records, s.rejected]) mkdirSync(d, { recursive: true, mode: 0o700 });
    writeIfChanged(s.wrapper, wrapperScript(s.records), 0o700);
    if (owner && process.getuid?.() === 0 && owner.uid !== 0) for (const p of [s.dir, s.records, s.rejected, s.wrapper]) chownSync(p, owner.uid, owner.gid);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`cannot prepare the support spool in ${dir}: ${(e as NodeJS.ErrnoException).code ?? "error"}`, EXIT.config, "config_invalid");
  }
  return s;
}

interface Pending {
  file: string;
  record: SupportRecord;
  order: bigint;
  size: number;
}

function moveTo(dir: string, file: string) {
  try {
    renameSync(file, path.join(dir, path.basename(file)));
  } catch {
    // already gone (another pass moved or shipped it)
  }
}

/** The spool's complete records, oldest first; a file that is not a valid record is moved to rejected/. */
export function readSpool(s: Spool): { pending: Pending[]; rejected: number } {
  const pending: Pending[] = [];
  let rejected = 0;
  for (const name of readdirSync(s.records)) {
    if (!RECORD_FILE_RE.test(name)) continue; // `.part` files are still being written
    const file = path.join(s.records, name);
    let parsed: ReturnType<typeof parseRecord>;
    let st;
    try {
      const text = readFileSync(file, "utf8");
      st = statSync(file, { bigint: true });
      parsed = parseRecord(JSON.parse(text));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      parsed = { error: "not JSON" };
    }
    if (!isRecord(parsed) || !name.endsWith(`-${parsed.id}.json`)) {
      moveTo(s.rejected, file);
      rejected++;
      continue;
    }
    // The wrapper's clock has whole seconds; the file's modification time orders records
    // written within one second (a command before its end).
    pending.push({ file, record: parsed, order: st!.mtimeNs, size: JSON.stringify(parsed).length });
  }
  // File times are as coarse as the kernel's clock tick: on a tie, a start goes before an end.
  const rank = (p: Pending) => (p.record.kind === "session_end" ? 1 : 0);
  pending.sort((a, b) => a.record.time - b.record.time || (a.order < b.order ? -1 : a.order > b.order ? 1 : rank(a) - rank(b)));
  return { pending, rejected };
}

export interface ShipResult {
  shipped: number;
  rejected: number;
  /** Records left for the next pass (the server could not take them now). */
  left: number;
  error?: string;
}

/** Sends the spool, a grant at a time in bounded batches, and deletes what the server acknowledged. */
export async function shipSpool(session: ClientEnv, s: Spool): Promise<ShipResult> {
  const { pending, rejected: bad } = readSpool(s);
  const r: ShipResult = { shipped: 0, rejected: bad, left: 0 };
  const byGrant = new Map<string, Pending[]>();
  for (const p of pending) byGrant.set(p.record.grant, [...(byGrant.get(p.record.grant) ?? []), p]);
  const batches: Pending[][] = [];
  for (const list of byGrant.values()) {
    let cur: Pending[] = [];
    let bytes = 0;
    for (const p of list) {
      if (cur.length > 0 && (cur.length >= MAX_BATCH_RECORDS || bytes + p.size > BATCH_TARGET_BYTES)) {
        batches.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(p);
      bytes += p.size + 1;
    }
    if (cur.length) batches.push(cur);
  }
  for (const [i, batch] of batches.entries()) {
    try {
      const ack = json<{ accepted: string[]; duplicates: string[] }>(await api(session, "POST", "/v1/agent/support/events", { body: { v: 1, records: batch.map((p) => p.record) } }));
      const done = new Set([...ack.accepted, ...ack.duplicates]);
      for (const p of batch) {
        if (!done.has(p.record.id)) continue;
        unlinkSync(p.file);
        r.shipped++;
      }
      r.left += batch.length - batch.filter((p) => done.has(p.record.id)).length;
    } catch (e) {
      if (e instanceof CliError && e.code !== undefined && FINAL.has(e.code)) {
        for (const p of batch) moveTo(s.rejected, p.file);
        r.rejected += batch.length;
        r.error = e.code;
        continue;
      }
      r.left += batches.slice(i).reduce((n, b) => n + b.length, 0);
      r.error = e instanceof CliError ? (e.code ?? "error") : "error";
      break;
    }
  }
  return r;
}
