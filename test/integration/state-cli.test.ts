// The small `state` commands through the real CLI: keys (env and MASTER_KEY_FILE, never argv),
// rclone-config (0600, nothing secret echoed), sync (SIGTERM flushes) and up (sync fallback:
// GATEWAY_AUTH_TOKEN in CMD's env, MASTER_KEY not, exit code passed through, flush on exit).
import { spawn } from "node:child_process";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT } from "../../src/cli/exit.js";
import { reveal } from "../../src/crypto/rclone/index.js";
import { deriveStateKeys } from "../../src/state/keys.js";
import { BIN, runCli } from "../helpers/proc.js";
import { tempDir } from "../helpers/runtime.js";
import { rawNames, treeDigest } from "../helpers/state-tree.js";

const MK = "clawkeep-test-master-key-0001";
const KEY = { MASTER_KEY: MK, RCLONE_CRYPT_PASSWORD: "", RCLONE_CRYPT_PASSWORD2: "", S3_BUCKET: "", MASTER_KEY_FILE: "" };

describe("state CLI", () => {
  const work = tempDir("ck-state-cli-");
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("keys: plain, --obscure and --json; from MASTER_KEY_FILE; refuses without a key", async () => {
    const k = deriveStateKeys(MK);
    const j = await runCli(["state", "keys", "--json"], { env: KEY });
    expect(JSON.parse(j.stdout.toString())).toEqual({ rclone_crypt_password: k.rcloneCryptPassword, rclone_crypt_salt: k.rcloneCryptSalt, gateway_auth_token: k.gatewayAuthToken });
    expect(k.gatewayAuthToken).toBe("rv/S77nlUgGP1+NHsdhcuCjLjgJVTyYKYO0/m/PWfYw=");
    const o = JSON.parse((await runCli(["state", "keys", "--json", "--obscure"], { env: KEY })).stdout.toString()) as Record<string, string>;
    expect(reveal(o.rclone_crypt_password!)).toBe(k.rcloneCryptPassword);
    expect(reveal(o.rclone_crypt_salt!)).toBe(k.rcloneCryptSalt);
    const file = path.join(work, "master.key");
    writeFileSync(file, `${MK}\n`, { mode: 0o600 });
    const f = await runCli(["state", "keys"], { env: { ...KEY, MASTER_KEY: "", MASTER_KEY_FILE: file } });
    expect(f.stdout.toString()).toContain(`GATEWAY_AUTH_TOKEN=${k.gatewayAuthToken}`);
    const none = await runCli(["state", "keys"], { env: { ...KEY, MASTER_KEY: "" } });
    expect(none.code).toBe(EXIT.config);
  });

  it("rclone-config writes 0600 and prints no secret", async () => {
    const out = path.join(work, "rc.conf");
    writeFileSync(out, "old", { mode: 0o644 });
    const env = { ...KEY, S3_ENDPOINT: "http://127.0.0.1:9", AWS_ACCESS_KEY_ID: "AKIDCLAWKEEPTEST", AWS_SECRET_ACCESS_KEY: "very-secret-value" };
    const r = await runCli(["state", "rclone-config", "--remote", "s3://ck-bucket/p", "--output", out], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const text = readFileSync(out, "utf8");
    expect(text).toMatch(/\[s3-crypt\]\ntype = crypt\nremote = s3:ck-bucket\/p\n/);
    expect(text).toContain("secret_access_key = very-secret-value");
    expect(text).not.toContain(deriveStateKeys(MK).rcloneCryptPassword); // obscured, not plain
    expect(r.stdout.toString() + r.stderr).not.toMatch(/very-secret-value|AKIDCLAWKEEPTEST/);
  });

  it("sync: SIGTERM flushes pending writes and exits 0", async () => {
    const local = path.join(work, "sync-local");
    const remoteDir = path.join(work, "sync-remote");
    const p = spawn(process.execPath, [BIN, "state", "sync", "--local", local, "--remote", `file://${remoteDir}`, "--write-back", "30", "--interval", "60"], {
      env: { ...process.env, ...KEY },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    while (!/syncing/.test(err) && p.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    writeFileSync(path.join(local, "late.txt"), "written just before shutdown");
    p.kill("SIGTERM");
    const code = await new Promise<number | string | null>((r) => p.once("exit", (c, sig) => r(c ?? sig)));
    expect(code, err).toBe(0); // a signal name here means the process died of it
    expect(rawNames(remoteDir)).toHaveLength(1);
  });

  it("up (sync fallback): CMD gets GATEWAY_AUTH_TOKEN but not MASTER_KEY, its exit code, and its writes are flushed", async () => {
    const local = path.join(work, "up-local");
    const remote = `file://${work}/up-remote`;
    const script = `const fs=require("fs");fs.writeFileSync(process.argv[1]+"/out.json",JSON.stringify({t:process.env.GATEWAY_AUTH_TOKEN,m:process.env.MASTER_KEY??null}));process.exit(7)`;
    const r = await runCli(["state", "up", "--local", local, "--remote", remote, "--no-mount", "--", process.execPath, "-e", script, local], { env: KEY });
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/using the sync fallback/);
    expect(JSON.parse(readFileSync(path.join(local, "out.json"), "utf8"))).toEqual({ t: deriveStateKeys(MK).gatewayAuthToken, m: null });
    const restored = path.join(work, "up-restored");
    expect((await runCli(["state", "pull", "--local", restored, "--remote", remote], { env: KEY })).code).toBe(0);
    expect(treeDigest(restored)).toEqual(treeDigest(local));
  });
});
