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

/** Start a push and SIGKILL it once some objects are complete and another is half-written. */
async function interruptedPush(src: string, remote: string, remoteDir: string): Promise<void> {
  const p = spawn(process.execPath, [BIN, "state", "push", "--local", src, "--remote", remote, "--transfers", "2", "--json"], {
    env: { ...process.env, ...KEY },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<void>((r) => p.once("exit", () => r()));
  for (;;) {
    let names: string[] = [];
    try {
      names = rawNames(remoteDir);
    } catch {
      /* not created yet */
    }
    const partial = names.filter((n) => n.endsWith(PARTIAL_SUFFIX)).length;
    if ((partial > 0 && names.length - partial >= 2) || p.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  expect(p.exitCode, "push finished before it could be interrupted").toBeNull();
  p.kill("SIGKILL");
  await exited;
}

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

    // Under load the kill can land just after an object was renamed into place and before the
    // next one started; such an attempt is wiped and repeated (at most 5 times).
    let complete = -1;
    for (let attempt = 0; attempt < 5 && complete < 0; attempt++) {
      rmSync(remoteDir, { recursive: true, force: true });
      rmSync(path.join(src, ".clawkeep-state"), { recursive: true, force: true });
      await interruptedPush(src, remote, remoteDir);
      const after = rawNames(remoteDir);
      if (after.some((n) => n.endsWith(PARTIAL_SUFFIX))) complete = after.filter((n) => !n.endsWith(PARTIAL_SUFFIX)).length;
    }
    expect(complete, "never caught a transfer in progress").toBeGreaterThanOrEqual(2);
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
