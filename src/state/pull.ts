// `state pull`: restore the local state dir from the remote. Never writes, changes or deletes
// anything on the remote. Changed objects are staged and verified first (staging.ts), then
// swapped in; a local file is deleted only if the manifest shows it came from the remote, it is
// unchanged locally since, and its object is gone (and never when the remote lists nothing).
import { createWriteStream } from "node:fs";
import { lstat, mkdir, rm, stat, utimes } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { ClawkeepError } from "../errors.js";
import { getPlain, listPlain, type PlainObject, type StateContext } from "./crypt.js";
import { loadManifest, saveManifest } from "./manifest.js";
import { type Progress, runPool } from "./progress.js";
import { type Kind, LINK_SUFFIX, scanLocal, SQLITE_QUIET_SIG } from "./scan.js";
import { integrityCheck, isSqliteFile } from "./sqlite.js";
import { applyJournal, commitStaged, loadStagingIndex, localTarget, newStagedName, saveStagingIndex, type Staged, stagingDir } from "./staging.js";
import { chain, Counter, type Summary, transferError } from "./transfer.js";

export interface PullOptions {
  local: string;
  delete: boolean;
  transfers: number;
  progress: Progress;
}

export async function pull(ctx: StateContext, o: PullOptions): Promise<Summary> {
  const t0 = Date.now();
  await mkdir(o.local, { recursive: true });
  await applyJournal(o.local); // finish a commit a crash interrupted
  await ctx.remote.check({ create: false });
  const { files: remote, undecryptable } = await listPlain(ctx);
  const m = await loadManifest(o.local, ctx.remote.label, ctx.keyId);
  const local = await scanLocal(o.local, (p, sig) => (m.files[p]?.sig === sig ? m.files[p]?.kind : undefined));

  const todo: PlainObject[] = [];
  let skipped = 0;
  for (const r of remote.values()) {
    const e = local.get(r.path);
    const known = m.files[r.path];
    if (known && e && known.version === r.obj.version && known.sig === e.sig) skipped++;
    else if (!known && e && e.kind !== "sqlite" && e.size === r.plainSize && r.obj.mtimeMs !== undefined && Math.abs(r.obj.mtimeMs - e.mtimeMs) < 1) {
      m.files[r.path] = { sig: e.sig, kind: e.kind, version: r.obj.version };
      skipped++;
    } else todo.push(r);
  }
  const deletions: string[] = [];
  // An empty listing is far more likely a wrong prefix or a wiped bucket than a wish to delete
  // everything locally, so it never deletes.
  if (o.delete && remote.size > 0) {
    for (const [p, known] of Object.entries(m.files)) {
      const e = local.get(p);
      if (!remote.has(p) && e && e.sig === known.sig) deletions.push(e.abs);
    }
  }

  await mkdir(stagingDir(o.local), { recursive: true });
  const index = await loadStagingIndex(o.local);
  const staged: Staged[] = [];
  let bytes = 0;
  await o.progress.start(todo.length, todo.reduce((a, r) => a + (r.plainSize || 0), 0));
  try {
    await runPool(todo, o.transfers, async (r) => {
      const prev = index[r.path];
      if (prev && prev.version === r.obj.version && (await stat(prev.file).catch(() => undefined))) {
        staged.push(prev); // verified by an earlier, interrupted run
        return;
      }
      try {
        const s = await stageOne(ctx, o, r);
        bytes += r.plainSize;
        staged.push(s);
        index[r.path] = s;
        await saveStagingIndex(o.local, index);
        o.progress.file("restored", r.path, r.plainSize);
      } catch (e) {
        throw transferError(e, r.path);
      }
    });
  } catch (e) {
    const ce = e as ClawkeepError;
    // A full disk cannot be resumed from: free the space the staged copies hold.
    if (/disk full/.test(ce.message)) await rm(stagingDir(o.local), { recursive: true, force: true });
    throw new ClawkeepError(ce.code ?? "unavailable", `${ce.message}; ${o.local} was not changed`, { cause: e });
  } finally {
    o.progress.stop();
  }

  await commitStaged(o.local, staged, deletions);
  for (const s of staged) {
    const st = await lstat(localTarget(o.local, s.path, s.kind));
    const sig = `${st.size}:${st.mtimeMs}${s.kind === "sqlite" ? SQLITE_QUIET_SIG : ""}`;
    m.files[s.path] = { sig, kind: s.kind, version: s.version };
  }
  for (const p of Object.keys(m.files)) if (!remote.has(p)) delete m.files[p];
  await saveManifest(o.local, m);
  return {
    direction: "pull",
    remote: ctx.remote.label,
    files: remote.size,
    transferred: staged.length,
    deleted: deletions.length,
    skipped,
    bytes,
    seconds: (Date.now() - t0) / 1000,
    undecryptable,
    changedDuringRead: 0,
  };
}

async function stageOne(ctx: StateContext, o: PullOptions, r: PlainObject): Promise<Staged> {
  const file = newStagedName(o.local);
  try {
    const { body, mtimeMs } = await getPlain(ctx, r);
    const count = new Counter((n) => o.progress.bytes(n));
    await pipeline(chain(body, count), createWriteStream(file, { highWaterMark: 1 << 20 }));
    // rclone crypt has no length field: a cut on a chunk boundary decrypts cleanly, so the
    // byte count must match the size the listing implies.
    if (count.count !== r.plainSize) {
      throw new ClawkeepError("integrity_error", `remote object for ${r.path} is truncated (${count.count} of ${r.plainSize} bytes)`);
    }
    let kind: Kind = r.path.endsWith(LINK_SUFFIX) ? "link" : "file";
    if (kind === "file" && (await isSqliteFile(file))) {
      kind = "sqlite";
      const ok = await integrityCheck(file);
      if (ok !== "ok") throw new ClawkeepError("integrity_error", `restored SQLite database ${r.path} fails integrity_check: ${ok.slice(0, 200)}`);
    }
    if (mtimeMs !== undefined && kind !== "link") await utimes(file, new Date(mtimeMs), new Date(mtimeMs));
    return { path: r.path, version: r.obj.version, file, kind, mtimeMs };
  } catch (e) {
    await rm(file, { force: true });
    throw e;
  }
}
