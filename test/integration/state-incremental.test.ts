// The re-sync fast paths of `state push` keep their promises:
// - on a directory remote, an unchanged file whose object name is still listed is not stat'ed;
//   an object deleted behind our back is still noticed and sent again; one replaced behind our
//   back is sent again by a verifying pass (the first and every 10th pass of `state sync`);
// - a small new SQLite database with no sidecar, whose header the scan no longer reads, is
//   still sent as a backup-API snapshot, and its WAL never becomes an object of its own.
import { readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openState } from "../../src/state/crypt.js";
import { createProgress } from "../../src/state/progress.js";
import { pull } from "../../src/state/pull.js";
import { push } from "../../src/state/push.js";
import { tempDir } from "../helpers/runtime.js";
import { makeTree, rawNames, treeDigest } from "../helpers/state-tree.js";

const ENV = { MASTER_KEY: "incremental-master-key" };

describe("state push re-sync fast paths", () => {
  const work = tempDir("ck-state-inc-");
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const opts = (local: string, verifyRemote = false) => ({ local, delete: true, transfers: 4, progress: createProgress("quiet"), verifyRemote });

  it("trusts unchanged names without a stat, notices deleted objects, and a verifying pass repairs replaced ones", async () => {
    const src = path.join(work, "src");
    makeTree(src);
    const remoteDir = path.join(work, "remote");
    const ctx = await openState(`file://${remoteDir}`, ENV);
    const first = await push(ctx, opts(src));
    expect(first.transferred).toBe(first.files);
    expect((await push(ctx, opts(src))).transferred).toBe(0);

    // Deleted behind our back: the name is gone from the listing, so it is sent again.
    const names = rawNames(remoteDir).sort();
    unlinkSync(path.join(remoteDir, names[0]!));
    expect((await push(ctx, opts(src))).transferred).toBe(1);

    // Replaced behind our back by another object (here: another file's ciphertext) while the
    // local file is unchanged: the trusting pass leaves it (the documented trade-off) …
    const victim = path.join(remoteDir, names[1]!);
    writeFileSync(victim, readFileSync(path.join(remoteDir, names[2]!)));
    expect((await push(ctx, opts(src))).transferred).toBe(0);
    // … and a verifying pass sees the new version and sends the file again.
    expect((await push(ctx, opts(src, true))).transferred).toBe(1);

    const restored = path.join(work, "restored");
    await pull(ctx, opts(restored));
    expect(treeDigest(restored)).toEqual(treeDigest(src));
    ctx.remote.close();
  });

  it("a small SQLite database found only when read is sent as a snapshot; its WAL is never an object", async () => {
    const src = path.join(work, "db-src");
    makeTree(src);
    const file = path.join(src, "memory.db");
    const db = new Database(file);
    db.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('one')");
    db.close(); // rollback-journal mode, closed: no sidecar, so the scan does not read its header
    const remoteDir = path.join(work, "db-remote");
    const ctx = await openState(`file://${remoteDir}`, ENV);
    const s = await push(ctx, opts(src));
    const manifest = JSON.parse(readFileSync(path.join(src, ".clawkeep-state/manifest.json"), "utf8")) as { files: Record<string, { kind: string; sig: string }> };
    expect(manifest.files["memory.db"]?.kind).toBe("sqlite");
    expect(manifest.files["memory.db"]?.sig).toMatch(/\|-\|-$/);
    const objects = rawNames(remoteDir).length;
    expect(objects).toBe(s.files);

    // Now a writer in WAL mode keeps it open with rows only in the WAL.
    const w = new Database(file);
    w.pragma("journal_mode = WAL");
    w.pragma("wal_autocheckpoint = 0");
    w.exec("INSERT INTO t VALUES ('two')");
    try {
      const s2 = await push(ctx, opts(src));
      expect(s2.transferred).toBe(1); // the database, as one snapshot
      expect(rawNames(remoteDir)).toHaveLength(objects); // no -wal / -shm object
    } finally {
      w.close();
    }
    const restored = path.join(work, "db-restored");
    await pull(ctx, opts(restored));
    const r = new Database(path.join(restored, "memory.db"), { readonly: true });
    expect(r.pragma("integrity_check", { simple: true })).toBe("ok");
    expect(r.prepare("SELECT v FROM t ORDER BY rowid").pluck().all()).toEqual(["one", "two"]);
    r.close();
    ctx.remote.close();
  });
});
