// Empty directories follow rclone's --create-empty-src-dirs convention on a directory remote:
// `state push` creates them on the remote (encrypted names, byte for byte rclone's), rclone
// copies them back out, a tree rclone wrote with empty directories is restored with them by
// `state pull`, and a directory removed locally is removed remotely (unless --no-delete).
// Mandatory in CI (the real rclone). S3 has no empty directories (nor does rclone 1.60 there).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/proc.js";
import { tempDir } from "../helpers/runtime.js";
import { RCLONE_FOUND, rclone, rcloneEnv, treeDigest } from "../helpers/state-tree.js";

const KEY = { MASTER_KEY: "empty-dirs-master-key", RCLONE_CRYPT_PASSWORD: "", RCLONE_CRYPT_PASSWORD2: "", S3_BUCKET: "", MASTER_KEY_FILE: "" };
const IN_CI = process.env.CI === "true";
const SKIP = !RCLONE_FOUND && !IN_CI;
if (SKIP) console.warn("empty-directory tests skipped: no `rclone` on PATH; mandatory when CI=true");

/** Every directory below `root`, relative and sorted, leaving out our bookkeeping dir. */
function dirsOf(root: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    if (!e.isDirectory() || (rel === "" && e.name === ".clawkeep-state")) continue;
    const p = rel === "" ? e.name : `${rel}/${e.name}`;
    out.push(p, ...dirsOf(root, p));
  }
  return out.sort();
}

describe.skipIf(SKIP)("empty directories (rclone --create-empty-src-dirs)", () => {
  const work = tempDir("ck-state-dirs-");
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const state = async (args: string[]) => {
    const r = await runCli(["state", ...args], { env: KEY });
    expect(r.code, r.stderr).toBe(0);
  };

  it("push creates them as rclone would, rclone and pull read them back, and removal propagates", async () => {
    const src = path.join(work, "src");
    for (const d of ["empty", "nest/inner/leaf", "Ünïcödé leer", "withfile"]) mkdirSync(path.join(src, d), { recursive: true });
    writeFileSync(path.join(src, "withfile/x.txt"), "x");
    writeFileSync(path.join(src, "top.txt"), "top");
    const want = ["empty", "nest", "nest/inner", "nest/inner/leaf", "withfile", "Ünïcödé leer"].sort();
    expect(dirsOf(src)).toEqual(want);

    // Ours → rclone.
    const ours = path.join(work, "ours");
    await state(["push", "--local", src, "--remote", `file://${ours}`]);
    const oursConf = path.join(work, "ours.conf");
    await state(["rclone-config", "--remote", `file://${ours}`, "--output", oursConf]);
    const viaRclone = path.join(work, "via-rclone");
    await rclone(oursConf, ["copy", "--create-empty-src-dirs", "state-crypt:", viaRclone], rcloneEnv(work));
    expect(dirsOf(viaRclone)).toEqual(want);
    expect(treeDigest(viaRclone)).toEqual(treeDigest(src));

    // rclone → ours, and the encrypted directory names are the same bytes.
    const theirs = path.join(work, "theirs");
    const theirsConf = path.join(work, "theirs.conf");
    await state(["rclone-config", "--remote", `file://${theirs}`, "--output", theirsConf]);
    await rclone(theirsConf, ["copy", "--create-empty-src-dirs", "--exclude", "/.clawkeep-state/**", src, "state-crypt:"], rcloneEnv(work));
    expect(dirsOf(ours)).toEqual(dirsOf(theirs));
    const pulled = path.join(work, "pulled");
    await state(["pull", "--local", pulled, "--remote", `file://${theirs}`]);
    expect(dirsOf(pulled)).toEqual(want);
    expect(treeDigest(pulled)).toEqual(treeDigest(src));

    // A second push changes nothing; removing a directory locally removes it remotely, but
    // not with --no-delete.
    const before = dirsOf(ours);
    await state(["push", "--local", src, "--remote", `file://${ours}`]);
    expect(dirsOf(ours)).toEqual(before);
    rmSync(path.join(src, "empty"), { recursive: true });
    await state(["push", "--local", src, "--remote", `file://${ours}`, "--no-delete"]);
    expect(dirsOf(ours)).toEqual(before);
    await state(["push", "--local", src, "--remote", `file://${ours}`]);
    expect(dirsOf(ours)).toHaveLength(before.length - 1);
    const again = path.join(work, "again");
    await rclone(oursConf, ["copy", "--create-empty-src-dirs", "state-crypt:", again], rcloneEnv(work));
    expect(dirsOf(again)).toEqual(want.filter((d) => d !== "empty"));
  });
});
