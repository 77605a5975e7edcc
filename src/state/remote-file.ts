// A directory as a remote: the layout rclone's local backend uses, so `rclone` with a crypt
// remote over the same directory reads and writes the very same objects. Objects are written
// to a hidden temp name in the target directory and renamed into place, so a crash never
// leaves a partial object under a real name; the file's mtime carries the plaintext mtime as
// rclone's local backend does.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, opendir, rename, rm, rmdir, stat, utimes } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ClawkeepError } from "../errors.js";
import type { GetResult, Remote, RemoteObject } from "./remote.js";

/** Suffix of in-flight uploads; listings ignore it and later runs clean such leftovers up. */
export const PARTIAL_SUFFIX = ".clawkeep-partial";

export class FileRemote implements Remote {
  readonly label: string;

  constructor(readonly root: string) {
    this.label = `file://${root}`;
  }

  async check(opts: { create: boolean }): Promise<void> {
    if (opts.create) await mkdir(this.root, { recursive: true });
    const st = await stat(this.root).catch(() => undefined);
    if (!st?.isDirectory()) throw new ClawkeepError("not_found", `remote directory ${this.root} does not exist`);
  }

  async *list(): AsyncIterable<RemoteObject> {
    yield* this.#walk("");
  }

  async *#walk(rel: string): AsyncGenerator<RemoteObject> {
    const dir = await opendir(path.join(this.root, rel));
    for await (const e of dir) {
      const key = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) yield* this.#walk(key);
      else if (e.isFile()) {
        const abs = path.join(this.root, key);
        if (e.name.endsWith(PARTIAL_SUFFIX)) {
          // Left by an interrupted upload; only ever a temp name, so removing it loses nothing.
          await rm(abs, { force: true });
          continue;
        }
        const st = await stat(abs);
        yield { key, size: st.size, mtimeMs: st.mtimeMs, version: `${st.size}:${st.mtimeMs}:${st.ino}` };
      }
    }
  }

  async get(key: string): Promise<GetResult> {
    const abs = path.join(this.root, key);
    const st = await stat(abs).catch(() => undefined);
    if (!st) throw new ClawkeepError("not_found", `remote object vanished: ${key}`);
    return { body: createReadStream(abs, { highWaterMark: 1 << 20 }), size: st.size, mtimeMs: st.mtimeMs };
  }

  async put(key: string, body: Readable, _size: number, mtimeMs: number): Promise<string> {
    const abs = path.join(this.root, key);
    await mkdir(path.dirname(abs), { recursive: true });
    const tmp = path.join(path.dirname(abs), `.${randomBytes(6).toString("hex")}${PARTIAL_SUFFIX}`);
    try {
      await pipeline(body, createWriteStream(tmp, { highWaterMark: 1 << 20 }));
      const t = new Date(mtimeMs);
      await utimes(tmp, t, t);
      await rename(tmp, abs);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    const st = await stat(abs);
    return `${st.size}:${st.mtimeMs}:${st.ino}`;
  }

  async delete(key: string): Promise<void> {
    await rm(path.join(this.root, key), { force: true });
    // Drop directories this emptied, as rclone sync does, but never the root.
    let dir = path.dirname(path.join(this.root, key));
    while (dir.startsWith(this.root + path.sep)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
      dir = path.dirname(dir);
    }
  }

  close(): void {}
}
