// The local manifest: for each synced path, the local signature and remote object version seen
// when the two were last known equal. A path whose local signature and remote version both
// still match is skipped without reading or downloading anything. The manifest is tied to the
// remote and to a key fingerprint, so a different remote or key starts from scratch; it is
// written atomically (temp + rename) and often, so an interrupted run resumes where it stopped.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Kind, STATE_DIR } from "./scan.js";

export interface ManifestEntry {
  sig: string;
  kind: Kind;
  version: string;
}

export interface Manifest {
  v: 1;
  remote: string;
  keyId: string;
  files: Record<string, ManifestEntry>;
}

export const stateDir = (root: string) => path.join(root, STATE_DIR);

export async function loadManifest(root: string, remote: string, keyId: string): Promise<Manifest> {
  const fresh: Manifest = { v: 1, remote, keyId, files: {} };
  try {
    const m = JSON.parse(await readFile(path.join(stateDir(root), "manifest.json"), "utf8")) as Manifest;
    if (m.v !== 1 || m.remote !== remote || m.keyId !== keyId || typeof m.files !== "object") return fresh;
    return m;
  } catch {
    return fresh;
  }
}

export async function saveManifest(root: string, m: Manifest): Promise<void> {
  const dir = stateDir(root);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `manifest.json.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(m));
  await rename(tmp, path.join(dir, "manifest.json"));
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
