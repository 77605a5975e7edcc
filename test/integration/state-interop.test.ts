// `state push` / `state pull` against the real rclone (Debian's 1.60.1), over a file:// remote
// and over S3 (s3rver, with rclone's own s3 backend in path style), with password2 derived from
// MASTER_KEY and with only RCLONE_CRYPT_PASSWORD (rclone's default salt). rclone's config comes
// from `clawkeep state rclone-config`, so that command is checked as well. Mandatory in CI.
import { copyFileSync, mkdirSync, rmSync, statSync, utimesSync } from "node:fs";
import Database from "better-sqlite3";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { obscure } from "../../src/crypto/rclone/index.js";
import { runCli } from "../helpers/proc.js";
import { tempDir } from "../helpers/runtime.js";
import { startS3, type S3Server } from "../helpers/s3.js";
import { caseById, VECTOR_DIR } from "../helpers/rclone-vectors.js";
import { makeTree, RCLONE_FOUND, rawNames, rclone, rcloneEnv, treeDigest } from "../helpers/state-tree.js";

const IN_CI = process.env.CI === "true";
const SKIP = !RCLONE_FOUND && !IN_CI;
if (SKIP) console.warn("state interop tests skipped: no `rclone` on PATH (apt-get install rclone); mandatory when CI=true");

const KEYS = {
  "MASTER_KEY (password2 derived)": { MASTER_KEY: "state-interop-Ω-key", RCLONE_CRYPT_PASSWORD: "", RCLONE_CRYPT_PASSWORD2: "" },
  "RCLONE_CRYPT_PASSWORD only (default salt)": { MASTER_KEY: "", RCLONE_CRYPT_PASSWORD: obscure("operator pw"), RCLONE_CRYPT_PASSWORD2: "" },
};

describe.skipIf(SKIP)("state push/pull interop with rclone", () => {
  const LARGE_MTIME_S = 1765000000.1239996;
  let work: string;
  let plain: string;
  let s3: S3Server;

  beforeAll(async () => {
    work = tempDir("ck-state-interop-");
    plain = path.join(work, "plain");
    makeTree(plain);
    // 0.9996 ms past a millisecond: a restore that cuts the mtime to whole milliseconds (or
    // rounds it through a Date) is caught here on every machine, not only where the kernel's
    // clock happens to stamp files with such fractions.
    utimesSync(path.join(plain, "large.bin"), LARGE_MTIME_S, LARGE_MTIME_S);
    s3 = await startS3("ck-state");
  });
  afterAll(async () => {
    await s3?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("rclone is installed (mandatory in CI)", () => {
    expect(RCLONE_FOUND, "CI=true but rclone is missing (apt-get install rclone)").toBe(true);
  });

  let n = 0;
  for (const kind of ["file", "s3"] as const) {
    for (const [label, keyEnv] of Object.entries(KEYS)) {
      it(`${kind}:// with ${label}: rclone reads our push, we pull rclone's copy, names match byte for byte`, async () => {
        const dir = path.join(work, `case-${n++}`);
        mkdirSync(dir);
        const url = (name: string) => (kind === "file" ? `file://${dir}/${name}` : `s3://${s3.bucket}/${path.basename(dir)}-${name}`);
        const env = { ...keyEnv, ...(kind === "s3" ? s3.env : {}), S3_BUCKET: "" };
        const rEnv = rcloneEnv(dir);
        const cli = async (args: string[]) => {
          const r = await runCli(["state", ...args], { env });
          expect(r.code, r.stderr).toBe(0);
          return r;
        };

        // clawkeep writes, rclone reads.
        await cli(["push", "--local", plain, "--remote", url("ours")]);
        await cli(["rclone-config", "--remote", url("ours"), "--output", path.join(dir, "ours.conf")]);
        expect(statSync(path.join(dir, "ours.conf")).mode & 0o777).toBe(0o600);
        const crypt = kind === "file" ? "state-crypt:" : "s3-crypt:";
        // --fast-list: rclone 1.60's per-directory S3 listing against s3rver silently misses the
        // deepest directory of this tree (both for our objects and for its own); one recursive
        // listing does not. Real S3 is not affected.
        await rclone(path.join(dir, "ours.conf"), ["copy", "--links", "--fast-list", crypt, path.join(dir, "from-rclone")], rEnv);
        expect(treeDigest(path.join(dir, "from-rclone"))).toEqual(treeDigest(plain));

        // rclone writes, clawkeep reads.
        await cli(["rclone-config", "--remote", url("theirs"), "--output", path.join(dir, "theirs.conf")]);
        await rclone(path.join(dir, "theirs.conf"), ["copy", "--links", "--exclude", "/.clawkeep-state/**", plain, crypt], rEnv);
        const restored = path.join(dir, "restored");
        await cli(["pull", "--local", restored, "--remote", url("theirs")]);
        expect(treeDigest(restored)).toEqual(treeDigest(plain));
        // Microseconds survive both ways (rclone keeps nanoseconds; a double of seconds keeps ~0.2 µs).
        expect(Math.abs(statSync(path.join(restored, "large.bin")).mtimeMs - statSync(path.join(plain, "large.bin")).mtimeMs)).toBeLessThan(0.01);

        // Names are deterministic: both sides must have produced the same encrypted layout.
        if (kind === "file") expect(rawNames(path.join(dir, "ours"))).toEqual(rawNames(path.join(dir, "theirs")));
        else {
          const raw = async (name: string) =>
            (await rclone(path.join(dir, "ours.conf"), ["lsf", "-R", "--fast-list", "--files-only", `s3:${s3.bucket}/${path.basename(dir)}-${name}`], rEnv)).split("\n").sort();
          expect(await raw("ours")).toEqual(await raw("theirs"));
        }

        // A second pull finds nothing to do (the manifest knows every object now).
        const again = JSON.parse((await cli(["pull", "--local", restored, "--remote", url("theirs"), "--json"])).stdout.toString()) as { transferred: number };
        expect(again.transferred).toBe(0);
      });
    }
  }

  it("pulls the reference vectors rclone wrote (case A, default salt; case B, password2)", async () => {
    for (const id of ["A_standard_base32_default_salt", "B_standard_base32_with_salt"]) {
      const c = caseById(id);
      const dir = path.join(work, `vec-${id}`);
      for (const f of c.files) {
        mkdirSync(path.dirname(path.join(dir, "enc", f.encrypted_path)), { recursive: true });
        copyFileSync(path.join(VECTOR_DIR, f.encrypted_file), path.join(dir, "enc", f.encrypted_path));
      }
      const env = { MASTER_KEY: "", RCLONE_CRYPT_PASSWORD: c.config.password_obscured, RCLONE_CRYPT_PASSWORD2: c.config.password2_obscured ?? "" };
      const r = await runCli(["state", "pull", "--local", path.join(dir, "out"), "--remote", `file://${dir}/enc`], { env });
      expect(r.code, r.stderr).toBe(0);
      const got = treeDigest(path.join(dir, "out"));
      for (const f of c.files) {
        const plainFile = treeDigest(path.dirname(path.join(VECTOR_DIR, f.plain_file))).get(path.basename(f.plain_file));
        expect(got.get(f.plain_path), f.plain_path).toBe(plainFile);
      }
    }
  });

  // What an rclone mount leaves on the remote for a live WAL database: the main file and its
  // -wal (and -shm) as raw files. Committed rows that are only in the WAL must survive a pull.
  it("pulls a live WAL database that rclone copied raw, with the rows only its WAL holds", async () => {
    const dir = path.join(work, "raw-wal");
    const src = path.join(dir, "src");
    mkdirSync(path.join(src, "state"), { recursive: true });
    const db = new Database(path.join(src, "state", "app.sqlite"));
    db.pragma("journal_mode = WAL");
    db.pragma("wal_autocheckpoint = 0");
    db.exec("CREATE TABLE t (v TEXT)");
    db.pragma("wal_checkpoint(TRUNCATE)");
    for (let i = 0; i < 50; i++) db.prepare("INSERT INTO t VALUES (?)").run(`row-${i}`);
    expect(statSync(path.join(src, "state", "app.sqlite-wal")).size).toBeGreaterThan(0);
    const env = { MASTER_KEY: "state-interop-raw-wal", RCLONE_CRYPT_PASSWORD: "", RCLONE_CRYPT_PASSWORD2: "" };
    const url = `file://${dir}/enc`;
    const conf = path.join(dir, "r.conf");
    expect((await runCli(["state", "rclone-config", "--remote", url, "--output", conf], { env })).code).toBe(0);
    await rclone(conf, ["copy", src, "state-crypt:"], rcloneEnv(dir));
    db.close();
    const r = await runCli(["state", "pull", "--local", path.join(dir, "out"), "--remote", url], { env });
    expect(r.code, r.stderr).toBe(0);
    const back = new Database(path.join(dir, "out", "state", "app.sqlite"), { readonly: true });
    try {
      expect(back.pragma("integrity_check", { simple: true })).toBe("ok");
      expect(back.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 50 });
    } finally {
      back.close();
    }
  });
});
