// The FUSE path of `clawkeep state up`: the real rclone (Debian's 1.60) mounts the crypt remote
// at the state dir with the seed's VFS flags; CMD sees the mount in /proc/mounts and writes
// into it; when CMD exits, every write — including one made just before exit, still inside the
// 5 s write-back window — reaches the remote before the unmount, and the mount is gone. The
// remote is then read back by both `clawkeep state pull` and `rclone copy`, identically.
// Mandatory when CI=true (.ci/run installs fuse3); CLAWKEEP_NO_FUSE=1 is the only way to skip
// it there, for a CI runner without /dev/fuse, and that skip is announced.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deriveStateKeys } from "../../src/state/keys.js";
import { fuseUnavailable } from "../../src/state/mount.js";
import { runCli } from "../helpers/proc.js";
import { tempDir } from "../helpers/runtime.js";
import { bytesFor, rawNames, rclone, rcloneEnv, TREE_FILES, treeDigest } from "../helpers/state-tree.js";

const MK = "clawkeep-test-master-key-mount";
const KEY = { MASTER_KEY: MK, RCLONE_CRYPT_PASSWORD: "", RCLONE_CRYPT_PASSWORD2: "", S3_BUCKET: "", MASTER_KEY_FILE: "" };
const IN_CI = process.env.CI === "true";
const OPTED_OUT = process.env.CLAWKEEP_NO_FUSE === "1";
const WHY = fuseUnavailable();
const SKIP = OPTED_OUT || (WHY !== undefined && !IN_CI);
if (SKIP) console.warn(`state up FUSE tests SKIPPED: ${OPTED_OUT ? "CLAWKEEP_NO_FUSE=1" : WHY}; mandatory when CI=true`);

const mounts = () => readFileSync("/proc/mounts", "utf8");

// CMD: record whether the state dir is an rclone FUSE mount, copy a tree into it, write one
// more file just before exiting (so its write-back is still pending at exit), exit 3.
const CHILD = `
const fs = require("fs"), path = require("path");
const [dir, src, report] = process.argv.slice(1);
const line = fs.readFileSync("/proc/mounts", "utf8").split("\\n").find((l) => l.split(" ")[1] === dir);
fs.cpSync(src, dir, { recursive: true });
fs.writeFileSync(path.join(dir, "late.txt"), "written at exit " + process.env.GATEWAY_AUTH_TOKEN);
fs.writeFileSync(report, JSON.stringify({ mount: line ?? null, token: process.env.GATEWAY_AUTH_TOKEN ?? null, mk: process.env.MASTER_KEY ?? null }));
process.exit(3);
`;

describe.skipIf(SKIP)("state up with an rclone FUSE mount", () => {
  const work = tempDir("ck-state-mount-");
  afterAll(() => {
    // A failed run may leave the mount behind; never let rmSync walk into it.
    const left = path.join(work, "state");
    if (mounts().split("\n").some((l) => l.split(" ")[1] === left)) spawnSync("fusermount3", ["-u", "-z", left]);
    rmSync(work, { recursive: true, force: true });
  });

  it("FUSE is usable here (rclone, /dev/fuse, fusermount; mandatory in CI)", () => {
    expect(WHY, "CI=true but FUSE cannot be used; install fuse3 and give the runner /dev/fuse, or set CLAWKEEP_NO_FUSE=1").toBeUndefined();
  });

  it("mounts, CMD writes through the mount, exit flushes every write, unmounts cleanly; pull and rclone read it identically", async () => {
    const src = path.join(work, "src");
    for (const [p, size] of Object.entries(TREE_FILES)) {
      mkdirSync(path.dirname(path.join(src, p)), { recursive: true });
      writeFileSync(path.join(src, p), bytesFor(p, size));
    }
    const local = path.join(work, "state");
    const remoteDir = path.join(work, "remote");
    const remote = `file://${remoteDir}`;
    const report = path.join(work, "report.json");

    const r = await runCli(["state", "up", "--local", local, "--remote", remote, "--", process.execPath, "-e", CHILD, local, src, report], { env: KEY });
    expect(r.code, r.stderr).toBe(3); // CMD's exit code, and the flush did not fail
    expect(r.stderr).toMatch(/rclone FUSE mount ready at /);
    expect(r.stderr).not.toMatch(/sync fallback|final flush failed/);
    expect(r.stderr).toMatch(/State flushed/);

    const seen = JSON.parse(readFileSync(report, "utf8")) as { mount: string | null; token: string | null; mk: string | null };
    expect(seen.mount, "CMD did not see a mount at the state dir").toMatch(/ fuse\.rclone /);
    expect(seen.token).toBe(deriveStateKeys(MK).gatewayAuthToken);
    expect(seen.mk).toBeNull();

    // Unmounted, rclone gone: nothing at the mountpoint, and nothing was written underneath it.
    expect(mounts().split("\n").some((l) => l.split(" ")[1] === local)).toBe(false);
    expect(readdirSync(local)).toEqual([]);

    const expected = treeDigest(src);
    const pulled = path.join(work, "pulled");
    const p = await runCli(["state", "pull", "--local", pulled, "--remote", remote], { env: KEY });
    expect(p.code, p.stderr).toBe(0);
    expect(readFileSync(path.join(pulled, "late.txt"), "utf8")).toBe(`written at exit ${deriveStateKeys(MK).gatewayAuthToken}`);
    expected.set("late.txt", treeDigest(pulled).get("late.txt") ?? "missing");
    expect(treeDigest(pulled)).toEqual(expected);
    // Every remote object is an encrypted name: nothing of the plaintext tree leaks.
    expect(rawNames(remoteDir).some((n) => /late|agents|config/.test(n))).toBe(false);

    const conf = path.join(work, "rc.conf");
    expect((await runCli(["state", "rclone-config", "--remote", remote, "--output", conf], { env: KEY })).code).toBe(0);
    const viaRclone = path.join(work, "via-rclone");
    await rclone(conf, ["copy", "state-crypt:", viaRclone], rcloneEnv(work));
    expect(treeDigest(viaRclone)).toEqual(expected);
  });
});
