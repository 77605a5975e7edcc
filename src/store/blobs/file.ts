import { mkdir, open, readFile, readdir, rename, stat, unlink } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { assertBlobKey, type BlobEntry, type BlobStore } from "./port.js";

// Local-folder adapter. Writes go to a temp file in the same directory, are fsynced, renamed into
// place and the directory is fsynced, so a crash leaves either the old state or the whole blob.
export function createFileBlobStore(root: string): BlobStore {
  const abs = path.resolve(root);
  const full = (key: string) => {
    assertBlobKey(key);
    return path.join(abs, ...key.split("/"));
  };

  async function fsyncDir(dir: string): Promise<void> {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  return {
    async put(key, data) {
      const file = full(key);
      const dir = path.dirname(file);
      const firstCreated = await mkdir(dir, { recursive: true, mode: 0o700 });
      const tmp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
      const fh = await open(tmp, "wx", 0o600);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await rename(tmp, file);
      } catch (e) {
        await unlink(tmp).catch(() => undefined);
        throw e;
      }
      await fsyncDir(dir);
      // Directories made for this blob are entries in their parents: sync those too, or a power
      // loss could drop the new directory (and the blob with it) while its pointer survives.
      if (firstCreated) {
        for (let d = dir; d !== path.dirname(firstCreated); ) {
          d = path.dirname(d);
          await fsyncDir(d);
        }
      }
    },
    async get(key) {
      try {
        return await readFile(full(key));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw e;
      }
    },
    async delete(key) {
      try {
        await unlink(full(key));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
    },
    async *list(prefix) {
      const start = prefix ? path.join(abs, ...prefix.split("/").filter(Boolean)) : abs;
      const walk = async function* (dir: string): AsyncGenerator<BlobEntry> {
        let entries;
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
          throw e;
        }
        for (const ent of entries) {
          const p = path.join(dir, ent.name);
          if (ent.isDirectory()) yield* walk(p);
          else if (ent.isFile() && !ent.name.includes(".tmp-")) {
            const st = await stat(p).catch(() => null);
            if (st) yield { key: path.relative(abs, p).split(path.sep).join("/"), modified: st.mtime };
          }
        }
      };
      yield* walk(start);
    },
  };
}
