// Restores are two-phase so the state dir is never left half-restored. Phase 1 downloads every
// changed object into .clawkeep-state/staging/, decrypting, checking sizes and (for SQLite)
// integrity; a failure there leaves the state dir exactly as it was, and verified files stay
// staged (listed in index.json with their remote version) so a re-run resumes. Phase 2 writes a
// journal of renames and applies it; if that is interrupted, the next run rolls it forward.
import { randomBytes } from "node:crypto";
import { lstat, lutimes, mkdir, readFile, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Kind, LINK_SUFFIX } from "./scan.js";
import { stateDir } from "./manifest.js";
import { SQLITE_SIDECARS } from "./sqlite.js";

export interface Staged {
  /** Remote plain path. */
  path: string;
  version: string;
  file: string;
  kind: Kind;
  mtimeMs: number | undefined;
}

export const stagingDir = (root: string) => path.join(stateDir(root), "staging");
const indexFile = (root: string) => path.join(stagingDir(root), "index.json");
const journalFile = (root: string) => path.join(stateDir(root), "commit.json");

export async function loadStagingIndex(root: string): Promise<Record<string, Staged>> {
  try {
    return JSON.parse(await readFile(indexFile(root), "utf8")) as Record<string, Staged>;
  } catch {
    return {};
  }
}

export async function saveStagingIndex(root: string, idx: Record<string, Staged>): Promise<void> {
  const tmp = `${indexFile(root)}.${randomBytes(4).toString("hex")}`;
  await writeFile(tmp, JSON.stringify(idx));
  await rename(tmp, indexFile(root));
}

export const newStagedName = (root: string) => path.join(stagingDir(root), randomBytes(12).toString("hex"));

/** Local path a remote plain path lands on (a `.rclonelink` object becomes a symlink). */
export function localTarget(root: string, p: string, kind: Kind): string {
  return path.join(root, kind === "link" ? p.slice(0, -LINK_SUFFIX.length) : p);
}

async function applyOne(root: string, s: Staged, incoming: Set<string>): Promise<void> {
  const to = localTarget(root, s.path, s.kind);
  const exists = await lstat(s.file).catch(() => undefined);
  if (!exists) return; // already moved by an earlier, interrupted commit
  await mkdir(path.dirname(to), { recursive: true });
  const cur = await lstat(to).catch(() => undefined);
  if (cur?.isDirectory()) await rm(to, { recursive: true });
  if (s.kind === "sqlite") {
    // A stale WAL next to the restored database would be replayed into it: drop the sidecars.
    // One that arrives in this same pull stays: a raw writer (an rclone mount) put the
    // database and its WAL on the remote together, and the WAL holds committed pages.
    for (const side of SQLITE_SIDECARS) if (!incoming.has(s.path + side)) await rm(to + side, { force: true });
  }
  if (s.kind === "link") {
    const target = await readFile(s.file, "utf8");
    const tmp = path.join(path.dirname(to), `.${randomBytes(6).toString("hex")}.clawkeep-link`);
    await symlink(target, tmp);
    if (s.mtimeMs !== undefined) await lutimes(tmp, s.mtimeMs / 1000, s.mtimeMs / 1000).catch(() => undefined);
    await rename(tmp, to);
    await unlink(s.file);
    return;
  }
  await rename(s.file, to);
}

/** Phase 2: journal, renames, local deletions; safe to re-run after a crash. */
export async function commitStaged(root: string, staged: Staged[], deletions: string[]): Promise<void> {
  const journal = journalFile(root);
  await writeFile(`${journal}.tmp`, JSON.stringify({ staged, deletions }));
  await rename(`${journal}.tmp`, journal);
  await applyJournal(root);
}

export async function applyJournal(root: string): Promise<boolean> {
  let j: { staged: Staged[]; deletions: string[] };
  try {
    j = JSON.parse(await readFile(journalFile(root), "utf8")) as typeof j;
  } catch {
    return false;
  }
  const incoming = new Set(j.staged.map((s) => s.path));
  for (const s of j.staged) await applyOne(root, s, incoming);
  for (const d of j.deletions) await rm(d, { force: true });
  await rm(stagingDir(root), { recursive: true, force: true });
  await rm(journalFile(root), { force: true });
  return true;
}
