// An interrupted `state push` resumes: several large files are being pushed when the process
// is killed with SIGKILL mid-transfer (some objects already complete, at least one half-written
// temp object present). The rerun sends exactly the files whose objects are missing, leaves the
// complete ones alone (recorded in the manifest, or adopted by size and mtime when the kill
// came before the manifest was saved), removes the half-written leftovers, and the restored
// tree is identical.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PARTIAL_SUFFIX } from "../../src/state/remote-file.js";
import { BIN, runCli } from "../helpers/proc.js";
import { tempDir } from "../helpers/runtime.js";
import { rawNames, treeDigest } from "../helpers/state-tree.js";

const KEY = { MASTER_KEY: "resume-master-key", RCLONE_CRYPT_PASSWORD: "", RCLONE_CRYPT_PASSWORD2: "", S3_BUCKET: "", MASTER_KEY_FILE: "" };
const FILES = 8;
const SIZE = 24 << 20;

describe("state push resumes after kill -9", () => {
  const work = tempDir("ck-state-resume-");
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("the rerun moves only what is missing or incomplete, and the result is identical", async () => {
    const src = path.join(work, "src");
    mkdirSync(path.join(src, "blobs"), { recursive: true });
    for (let i = 0; i < FILES; i++) writeFileSync(path.join(src, "blobs", `part-${i}.bin`), randomBytes(SIZE + i));
    writeFileSync(path.join(src, "small.txt"), "small file next to the large ones");
    const remoteDir = path.join(work, "remote");
    const remote = `file://${remoteDir}`;

    const p = spawn(process.execPath, [BIN, "state", "push", "--local", src, "--remote", remote, "--transfers", "2", "--json"], {
      env: { ...process.env, ...KEY },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    // Kill once at least one object is complete and another is half-written.
    for (;;) {
      const names = (() => {
        try {
          return rawNames(remoteDir);
        } catch {
          return [];
        }
      })();
      const partial = names.filter((n) => n.endsWith(PARTIAL_SUFFIX)).length;
      const done = names.length - partial;
      if ((partial > 0 && done >= 2) || p.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(p.exitCode, "push finished before it could be interrupted").toBeNull();
    p.kill("SIGKILL");
    await exited;

    const after = rawNames(remoteDir);
    const complete = after.filter((n) => !n.endsWith(PARTIAL_SUFFIX)).length;
    expect(after.some((n) => n.endsWith(PARTIAL_SUFFIX)), "no half-written object at the kill").toBe(true);
    expect(complete).toBeLessThan(FILES + 1);

    const r = await runCli(["state", "push", "--local", src, "--remote", remote, "--json"], { env: KEY });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout.toString()) as { transferred: number; skipped: number; files: number };
    expect(s.files).toBe(FILES + 1);
    expect(s.transferred).toBe(FILES + 1 - complete); // only the missing or half-written ones
    expect(s.skipped).toBe(complete);
    expect(rawNames(remoteDir).some((n) => n.endsWith(PARTIAL_SUFFIX))).toBe(false);
    expect(rawNames(remoteDir)).toHaveLength(FILES + 1);

    const again = JSON.parse((await runCli(["state", "push", "--local", src, "--remote", remote, "--json"], { env: KEY })).stdout.toString()) as { transferred: number };
    expect(again.transferred).toBe(0);

    const restored = path.join(work, "restored");
    const pr = await runCli(["state", "pull", "--local", restored, "--remote", remote], { env: KEY });
    expect(pr.code, pr.stderr).toBe(0);
    expect(treeDigest(restored)).toEqual(treeDigest(src));
  });
});
