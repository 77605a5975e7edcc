// What a user sees while state moves: a progress bar (bytes, files, rate, ETA) when stderr is a
// terminal, one plain line per file otherwise (logs, CI), and with --json only the summary on
// stdout, which parses. The terminal is a real pseudo-terminal from util-linux's `script`.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, runCli } from "../helpers/proc.js";
import { tempDir } from "../helpers/runtime.js";

const KEY = { MASTER_KEY: "clawkeep-test-master-key-progress", RCLONE_CRYPT_PASSWORD: "", RCLONE_CRYPT_PASSWORD2: "", S3_BUCKET: "", MASTER_KEY_FILE: "" };
const haveScript = spawnSync("script", ["--version"]).status === 0;
if (!haveScript) console.warn("[clawkeep tests] no `script` (util-linux): the terminal progress-bar case is skipped");
const ESC = String.fromCharCode(27);
const plain = (s: string) => s.replace(new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]|${ESC}[78]`, "g"), "").replace(/\r/g, "\n");

describe("state progress output", () => {
  const work = tempDir("ck-state-progress-");
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const src = path.join(work, "src");
  mkdirSync(path.join(src, "memory"), { recursive: true });
  writeFileSync(path.join(src, "big.bin"), Buffer.alloc(6 * 1048576, 7));
  writeFileSync(path.join(src, "memory", "2026-11-24.md"), "notes\n");
  writeFileSync(path.join(src, "config.json"), "{}\n");
  const remote = (n: string) => `file://${path.join(work, n)}`;

  it("not a terminal: one plain line per file and a summary line, nothing on stdout", async () => {
    const r = await runCli(["state", "push", "--local", src, "--remote", remote("r1")], { env: KEY });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines.filter((l) => l.startsWith("uploaded ")).sort()).toEqual(["uploaded big.bin (6291456 bytes)", "uploaded config.json (3 bytes)", "uploaded memory/2026-11-24.md (6 bytes)"]);
    expect(lines.at(-1)).toMatch(/^push: 3 uploaded, 0 deleted, 0 unchanged, 6\.0 MiB in [\d.]+ s$/);
    expect(r.stderr).not.toContain("ETA");
    expect(r.stderr).not.toContain(ESC);
  });

  it("--json: stdout is exactly the summary object, no progress anywhere", async () => {
    const r = await runCli(["state", "pull", "--local", path.join(work, "back-json"), "--remote", remote("r1"), "--json"], { env: KEY });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ direction: "pull", files: 3, transferred: 3, bytes: 6291465 });
    expect(r.stderr).toBe("");
  });

  it.skipIf(!haveScript)("a terminal: a bar with bytes, files, rate and ETA, then the summary", () => {
    const cmd = [process.execPath, BIN, "state", "pull", "--local", path.join(work, "back-tty"), "--remote", remote("r1")].join(" ");
    const r = spawnSync("script", ["-qefc", cmd, "/dev/null"], { env: { ...process.env, ...KEY }, timeout: 60_000 });
    expect(r.status, r.stderr?.toString()).toBe(0);
    const out = plain(r.stdout.toString());
    expect(out).toMatch(/100% \| 6\.0 MiB\/6\.0 MiB \| files 3\/3 \| [\d.]+ MiB\/s \| ETA \d+s/);
    expect(out).toMatch(/pull: 3 restored, 0 deleted, 0 unchanged, 6\.0 MiB in [\d.]+ s/);
    expect(out).not.toMatch(/^restored /m); // the bar replaces the per-file lines
  });
});
