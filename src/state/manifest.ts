// The local manifest: for each synced path, the local signature and remote object version seen
// when the two were last known equal. A path whose local signature and remote version both
// still match is skipped without reading or downloading anything. The manifest is tied to the
// remote and to a key fingerprint, so a different remote or key starts from scratch; it is
// written atomically (temp + rename) at most once a second during a run and at its end (not at
// all if nothing changed), so an interrupted run resumes close to where it stopped.
import { type Stats, statSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Kind, STATE_DIR } from "./scan.js";

export interface ManifestEntry {
  sig: string;
  kind: Kind;
  version: string;
  /** The object's encrypted name, so an unchanged tree is matched without decrypting names. */
  enc?: string;
}

export interface Manifest {
  v: 1;
  remote: string;
  keyId: string;
  files: Record<string, ManifestEntry>;
}

export const stateDir = (root: string) => path.join(root, STATE_DIR);

// What was last read or written, so a run that changed nothing does not rewrite the file.
const lastText = new WeakMap<Manifest, string>();
// The manifest object behind each file this process read or wrote, with the file's stamp then.
const cache = new Map<string, { m: Manifest; stamp: string }>();
const stamp = (st: Stats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

/**
 * The manifest for this remote and key fingerprint, or a fresh one. With `keyId` undefined the
 * fingerprint is not checked yet (keys are still being derived): pass the result through
 * {@link trustManifest} before relying on remote versions or names in it.
 */
export async function loadManifest(root: string, remote: string, keyId?: string): Promise<Manifest> {
  const fresh: Manifest = { v: 1, remote, keyId: keyId ?? "", files: {} };
  const file = path.join(stateDir(root), "manifest.json");
  try {
    // A long-running `state sync` reloads the manifest on every pass: if the file is still the
    // one this process last read or wrote (same inode, size and mtime), reuse the parsed copy.
    const st = statSync(file, { throwIfNoEntry: false });
    const c = cache.get(file);
    let m: Manifest;
    if (st && c && c.stamp === stamp(st)) m = c.m;
    else {
      const text = await readFile(file, "utf8");
      m = JSON.parse(text) as Manifest;
      lastText.set(m, text);
      if (st) cache.set(file, { m, stamp: stamp(st) });
    }
    if (m.v !== 1 || m.remote !== remote || (keyId !== undefined && m.keyId !== keyId) || typeof m.files !== "object") return fresh;
    return m;
  } catch {
    return fresh;
  }
}

/** `m` if it was made under the keys with fingerprint `keyId`, else a fresh manifest. */
export function trustManifest(m: Manifest, keyId: string): Manifest {
  if (m.keyId === keyId) return m;
  return { v: 1, remote: m.remote, keyId, files: {} };
}

export async function saveManifest(root: string, m: Manifest): Promise<void> {
  const text = JSON.stringify(m);
  if (lastText.get(m) === text) return;
  const dir = stateDir(root);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `manifest.json.${process.pid}.tmp`);
  await writeFile(tmp, text);
  const file = path.join(dir, "manifest.json");
  await rename(tmp, file);
  lastText.set(m, text);
  const st = statSync(file, { throwIfNoEntry: false });
  if (st) cache.set(file, { m, stamp: stamp(st) });
}

/** Saves at most every `ms` while a run progresses, and on demand at the end. */
export function manifestSaver(root: string, m: Manifest, ms = 1000) {
  let last = Date.now();
  let chain: Promise<void> = Promise.resolve();
  const save = () => (chain = chain.then(() => saveManifest(root, m)));
  return {
    touch(): void {
      if (Date.now() - last >= ms) {
        last = Date.now();
        void save().catch(() => undefined);
      }
    },
    flush: save,
  };
}
