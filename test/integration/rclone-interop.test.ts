// Interop with the real rclone binary (Debian's 1.60.1 in CI): files we encrypt must be read by
// `rclone cat`/`copy`/`cryptcheck`, and files rclone writes must be decrypted by us, names and
// contents, for several name settings. Passwords reach rclone obscured by our own obscure(),
// inside a 0600 config file (or, for the seed-000 override check, in RCLONE_CRYPT_PASSWORD(2));
// nothing secret is put on argv, and inherited RCLONE_* variables are stripped because rclone
// lets them override the config file.
import { spawnSync } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createDecryptStream,
  decryptContents,
  deriveRcloneKeys,
  encryptContents,
  encryptStream,
  type NameOptions,
  obscure,
  RcloneNameCipher,
  type RcloneKeys,
} from "../../src/crypto/rclone/index.js";
import { resolveCryptSecrets } from "../../src/state/keys.js";
import { sameBytes } from "../helpers/rclone-vectors.js";

const IN_CI = process.env.CI === "true";
const RCLONE_FOUND = spawnSync("rclone", ["version"], { stdio: "ignore" }).status === 0;
const SKIP = !RCLONE_FOUND && !IN_CI;
if (SKIP) console.warn("rclone interop tests skipped: no `rclone` on PATH (apt-get install rclone); they are mandatory when CI=true");

const C = 65536;
const PLAIN_FILES: Record<string, number> = {
  "empty.txt": 0,
  "one.bin": 1,
  "below-chunk.bin": C - 1,
  "exact-chunk.bin": C,
  "above-chunk.bin": C + 1,
  "dir one/three chunks+5.bin": 3 * C + 5,
  "dir one/sub dïr/Ünïcödé – 文件 😀.txt": 51,
  "dir one/sub dïr/.hidden": 7,
  [`dir one/${"n".repeat(139)}.txt`]: 15,
  "report-v2001-02-03-040506-789.txt": 21,
  "!bang & (1).md": 9,
};
const EMPTY_DIR = "empty dir";

function bytesFor(path: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = 0x9e3779b9 ^ path.length;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function walkFiles(root: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    const p = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...walkFiles(root, p));
    else out.push(p);
  }
  return out.sort();
}

function walkDirs(root: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const p = rel === "" ? e.name : `${rel}/${e.name}`;
    out.push(p, ...walkDirs(root, p));
  }
  return out.sort();
}

interface Setup {
  label: string;
  names: NameOptions;
  /** Plain passwords; obscured for rclone by our obscure(). */
  secrets: () => { password: Uint8Array; password2: Uint8Array; passwordObscured: string; password2Obscured?: string };
}

const SETUPS: Setup[] = [
  {
    label: "standard/base32, passwords derived from MASTER_KEY (seed 000)",
    names: {},
    secrets: () => {
      const r = resolveCryptSecrets({ MASTER_KEY: "interop-master-key-Ω" });
      return { ...r, password2Obscured: r.password2Obscured };
    },
  },
  {
    label: "off mode, default salt",
    names: { filenameEncryption: "off" },
    secrets: () => ({ password: Buffer.from("pw off"), password2: new Uint8Array(0), passwordObscured: obscure("pw off") }),
  },
  {
    label: "standard/base64, directory names in clear",
    names: { filenameEncoding: "base64", directoryNameEncryption: false },
    secrets: () => ({
      password: Buffer.from("pässwörd"),
      password2: Buffer.from("salt & pepper"),
      passwordObscured: obscure("pässwörd"),
      password2Obscured: obscure("salt & pepper"),
    }),
  },
  {
    label: "standard/base32768",
    names: { filenameEncoding: "base32768" },
    secrets: () => ({ password: Buffer.from("b32k"), password2: new Uint8Array(0), passwordObscured: obscure("b32k") }),
  },
  {
    label: "obfuscate",
    names: { filenameEncryption: "obfuscate" },
    secrets: () => ({ password: Buffer.from("ob"), password2: new Uint8Array(0), passwordObscured: obscure("ob") }),
  },
];

describe.skipIf(SKIP)("rclone interop (real rclone binary)", () => {
  let work: string;
  let plainDir: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "clawkeep-rclone-"));
    plainDir = join(work, "plain");
    for (const [p, size] of Object.entries(PLAIN_FILES)) {
      mkdirSync(dirname(join(plainDir, p)), { recursive: true });
      writeFileSync(join(plainDir, p), bytesFor(p, size));
    }
    mkdirSync(join(plainDir, EMPTY_DIR), { recursive: true });
  });

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it("rclone is installed (mandatory in CI)", () => {
    expect(RCLONE_FOUND, "CI=true but the rclone binary is missing: install it (apt-get install rclone)").toBe(true);
  });

  it("rclone honours RCLONE_CRYPT_PASSWORD(2) exactly as resolveCryptSecrets hands them over", async () => {
    const root = join(work, "env-override");
    const encDir = join(root, "enc");
    mkdirSync(encDir, { recursive: true });
    // The config names the remote but carries no password: rclone must take both from the env.
    const conf = join(root, "rclone.conf");
    writeFileSync(conf, `[sec]\ntype = crypt\nremote = ${encDir}\n`, { mode: 0o600 });
    const r = resolveCryptSecrets({
      MASTER_KEY: "ignored-for-the-password",
      RCLONE_CRYPT_PASSWORD: obscure("operator password"),
    });
    expect([r.passwordSource, r.password2Source]).toEqual(["env-override", "master-key"]);
    const keys = await deriveRcloneKeys(r.password, r.password2);
    const names = new RcloneNameCipher(keys);
    const plain = bytesFor("env", C + 3);
    writeFileSync(join(encDir, names.encryptFilePath("env.bin")), encryptContents(keys.dataKey, plain));

    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("RCLONE_")));
    env.HOME = root;
    env.RCLONE_CRYPT_PASSWORD = r.passwordObscured;
    env.RCLONE_CRYPT_PASSWORD2 = r.password2Obscured;
    const res = spawnSync("rclone", ["--config", conf, "cat", "sec:env.bin"], { env, timeout: 60_000, maxBuffer: 8 << 20 });
    expect(res.status, res.stderr?.toString()).toBe(0);
    expect(sameBytes(res.stdout, plain)).toBe("same");
  });

  SETUPS.forEach((setup, idx) => {
    describe(setup.label, () => {
      let keys: RcloneKeys;
      let names: RcloneNameCipher;
      let conf: string;
      let encDir: string;
      let env: NodeJS.ProcessEnv;

      function rclone(args: string[]): { stdout: Buffer; stderr: string } {
        const r = spawnSync("rclone", ["--config", conf, ...args], { env, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
        const stderr = r.stderr?.toString() ?? "";
        if (r.error !== undefined || r.status !== 0) {
          throw new Error(`rclone ${args[0]} failed (status ${String(r.status)}): ${r.error?.message ?? stderr}`);
        }
        return { stdout: r.stdout, stderr };
      }

      beforeAll(async () => {
        const s = setup.secrets();
        keys = await deriveRcloneKeys(s.password, s.password2);
        names = new RcloneNameCipher(keys, setup.names);
        const root = join(work, `setup-${idx}`);
        encDir = join(root, "enc");
        mkdirSync(encDir, { recursive: true });
        conf = join(root, "rclone.conf");
        const lines = [
          "[sec]",
          "type = crypt",
          `remote = ${encDir}`,
          `password = ${s.passwordObscured}`,
          ...(s.password2Obscured === undefined ? [] : [`password2 = ${s.password2Obscured}`]),
          `filename_encryption = ${names.filenameEncryption}`,
          `directory_name_encryption = ${String(names.directoryNameEncryption)}`,
          `filename_encoding = ${names.filenameEncoding}`,
          "",
        ];
        writeFileSync(conf, lines.join("\n"), { mode: 0o600 });
        env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("RCLONE_")));
        env.HOME = root;
        env.XDG_CACHE_HOME = join(root, "cache");
      });

      it("(a) rclone reads what we wrote: names, bytes, cat, cryptcheck, empty dir", async () => {
        let i = 0;
        for (const p of walkFiles(plainDir)) {
          const plain = new Uint8Array(readFileSync(join(plainDir, p)));
          const target = join(encDir, names.encryptFilePath(p));
          mkdirSync(dirname(target), { recursive: true });
          // Alternate the whole-buffer and streaming encryptors; both must satisfy rclone.
          if (i++ % 2 === 0) writeFileSync(target, encryptContents(keys.dataKey, plain));
          else {
            const parts: Uint8Array[] = [];
            for await (const piece of encryptStream(keys.dataKey, [plain.subarray(0, 1000), plain.subarray(1000)])) parts.push(piece);
            writeFileSync(target, Buffer.concat(parts));
          }
        }
        mkdirSync(join(encDir, names.encryptDirPath(EMPTY_DIR)), { recursive: true });

        const listed = rclone(["lsf", "-R", "--files-only", "sec:"]).stdout.toString().split("\n").filter(Boolean).sort();
        expect(listed).toEqual(walkFiles(plainDir));

        const out = join(work, `setup-${idx}`, "from-rclone");
        rclone(["copy", "--create-empty-src-dirs", "sec:", out]);
        expect(walkFiles(out)).toEqual(walkFiles(plainDir));
        expect(walkDirs(out)).toEqual(walkDirs(plainDir));
        for (const p of walkFiles(plainDir)) {
          expect(sameBytes(readFileSync(join(out, p)), readFileSync(join(plainDir, p))), p).toBe("same");
        }

        const catPath = "dir one/sub dïr/Ünïcödé – 文件 😀.txt";
        expect(sameBytes(rclone(["cat", `sec:${catPath}`]).stdout, readFileSync(join(plainDir, catPath)))).toBe("same");

        const check = rclone(["cryptcheck", plainDir, "sec:"]);
        expect(check.stderr).toMatch(/0 differences found/);
      });

      it("(b) we read what rclone wrote: names (both ways), contents (whole and streamed), empty dir", async () => {
        rmSync(encDir, { recursive: true, force: true });
        mkdirSync(encDir);
        rclone(["copy", "--create-empty-src-dirs", plainDir, "sec:"]);

        const encFiles = walkFiles(encDir);
        expect(encFiles).toHaveLength(Object.keys(PLAIN_FILES).length);
        const seen: string[] = [];
        for (const e of encFiles) {
          const p = names.decryptFilePath(e);
          seen.push(p);
          expect(names.encryptFilePath(p)).toBe(e);
          const plain = readFileSync(join(plainDir, p));
          expect(sameBytes(decryptContents(keys.dataKey, readFileSync(join(encDir, e))), plain), p).toBe("same");
          const streamed: Buffer[] = [];
          await pipeline(createReadStream(join(encDir, e), { highWaterMark: 10_000 }), createDecryptStream(keys.dataKey), async (src) => {
            for await (const b of src as AsyncIterable<Buffer>) streamed.push(b);
          });
          expect(sameBytes(Buffer.concat(streamed), plain), p).toBe("same");
        }
        expect(seen.sort()).toEqual(walkFiles(plainDir));
        expect(walkDirs(encDir).map((d) => names.decryptDirPath(d)).sort()).toEqual(walkDirs(plainDir));
      });
    });
  });
});
