// `state pull`: restore the local state dir from the remote. Never writes, changes or deletes
// anything on the remote. Changed objects are staged and verified first (staging.ts), then
// swapped in; a local file is deleted only if the manifest shows it came from the remote, it is
// unchanged locally since, and its object is gone (and never when the remote lists nothing).
import { createWriteStream } from "node:fs";
import { lstat, mkdir, rm, stat, utimes } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { ClawkeepError } from "../errors.js";
import { type CryptKeys, getPlain, listRemote, type PlainObject, plainEmptyDirs, plainListing, type StateContext } from "./crypt.js";
import { loadManifest, saveManifest, trustManifest } from "./manifest.js";
import { type Progress, runPool } from "./progress.js";
import { type Kind, LINK_SUFFIX, notSqlite, scanLocal, SQLITE_QUIET_SIG } from "./scan.js";
import { integrityCheck, isSqliteHeader } from "./sqlite.js";
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
  // Listing, scan and key derivation overlap; the manifest is trusted once the keys match it.
  const raw = await loadManifest(o.local, ctx.remote.label);
  const remoteEmpty: string[] = [];
  const [objs, local, keys] = await Promise.all([
    listRemote(ctx, { emptyDirs: remoteEmpty }),
    scanLocal(o.local, (p, sig) => (raw.files[p]?.sig === sig ? raw.files[p]?.kind : undefined)),
    ctx.keys,
  ]);
  const m = trustManifest(raw, keys.keyId);
  const { files: remote, undecryptable } = plainListing(keys, ctx.remote.label, objs, m);

  const todo: PlainObject[] = [];
  let skipped = 0;
  for (const r of remote.values()) {
    const e = local.get(r.path);
    const known = m.files[r.path];
    if (known && e && known.version === r.obj.version && known.sig === e.sig) {
      known.enc ??= r.obj.key;
      skipped++;
    } else if (!known && e && e.size === r.plainSize && r.obj.mtimeMs !== undefined && Math.abs(r.obj.mtimeMs - e.mtimeMs) < 1 && notSqlite(e)) {
      m.files[r.path] = { sig: e.sig, kind: e.kind, version: r.obj.version, enc: r.obj.key };
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
  // The staging index is what lets a re-run resume: written at most once a second while
  // downloading, and once more when the downloads stop, however they stop.
  let lastSave = Date.now();
  let saving: Promise<void> = Promise.resolve();
  const saveIndex = () => (saving = saving.then(() => saveStagingIndex(o.local, index)));
  await o.progress.start(todo.length, todo.reduce((a, r) => a + (r.plainSize || 0), 0));
  try {
    await runPool(todo, o.transfers, async (r) => {
      const prev = index[r.path];
      if (prev && prev.version === r.obj.version && (await stat(prev.file).catch(() => undefined))) {
        staged.push(prev); // verified by an earlier, interrupted run
        return;
      }
      try {
        const s = await stageOne(ctx, keys, o, r);
        bytes += r.plainSize;
        staged.push(s);
        index[r.path] = s;
        if (Date.now() - lastSave >= 1000) {
          lastSave = Date.now();
          await saveIndex();
        }
        o.progress.file("restored", r.path, r.plainSize);
      } catch (e) {
        throw transferError(e, r.path);
      }
    });
    await saveIndex();
  } catch (e) {
    await saveIndex().catch(() => undefined);
    const ce = e as ClawkeepError;
    // A full disk cannot be resumed from: free the space the staged copies hold.
    if (/disk full/.test(ce.message)) await rm(stagingDir(o.local), { recursive: true, force: true });
    throw new ClawkeepError(ce.code ?? "unavailable", `${ce.message}; ${o.local} was not changed`, { cause: e });
  } finally {
    o.progress.stop();
  }

  await commitStaged(o.local, staged, deletions);
  // Empty directories on the remote (rclone's --create-empty-src-dirs convention) are created.
  // A local file of that name wins: the directory is only a convenience.
  for (const p of plainEmptyDirs(keys, remoteEmpty).keys()) {
    await mkdir(path.join(o.local, p), { recursive: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST" && e.code !== "ENOTDIR") throw e;
    });
  }
  for (const s of staged) {
    const st = await lstat(localTarget(o.local, s.path, s.kind));
    const sig = `${st.size}:${st.mtimeMs}${s.kind === "sqlite" ? SQLITE_QUIET_SIG : ""}`;
    m.files[s.path] = { sig, kind: s.kind, version: s.version, enc: remote.get(s.path)?.obj.key };
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

async function stageOne(ctx: StateContext, keys: CryptKeys, o: PullOptions, r: PlainObject): Promise<Staged> {
  const file = newStagedName(o.local);
  try {
    const { body, mtimeMs } = await getPlain(ctx, keys, r);
    const count = new Counter((n) => o.progress.bytes(n));
    await pipeline(chain(body, count), createWriteStream(file, { highWaterMark: 1 << 20 }));
    // rclone crypt has no length field: a cut on a chunk boundary decrypts cleanly, so the
    // byte count must match the size the listing implies.
    if (count.count !== r.plainSize) {
      throw new ClawkeepError("integrity_error", `remote object for ${r.path} is truncated (${count.count} of ${r.plainSize} bytes)`);
    }
    let kind: Kind = r.path.endsWith(LINK_SUFFIX) ? "link" : "file";
    if (kind === "file" && isSqliteHeader(count.head)) {
      kind = "sqlite";
      const ok = await integrityCheck(file);
      if (ok !== "ok") throw new ClawkeepError("integrity_error", `restored SQLite database ${r.path} fails integrity_check: ${ok.slice(0, 200)}`);
    }
    if (mtimeMs !== undefined && kind !== "link") await utimes(file, mtimeMs / 1000, mtimeMs / 1000); // seconds: a Date would cut to the millisecond
    return { path: r.path, version: r.obj.version, file, kind, mtimeMs };
  } catch (e) {
    await rm(file, { force: true });
    throw e;
  }
}
