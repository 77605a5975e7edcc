import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { ed25519 } from "@noble/curves/ed25519.js";
import { createSignerd, measurement } from "../../signer/daemon.js";
import { sealingKeyId } from "../../signer/sealed-key.js";
import { CliError, EXIT } from "../exit.js";

// `clawkeep signerd`: the enclave-mode signer process. Its two keys live in its own directory
// (0700, files 0600), apart from the API's data dir: the sealing key every backup is sealed
// under and the ed25519 key it signs its attestation with. INTERNAL_API_KEY comes from the
// environment (never argv).

function keyFile(file: string, make: () => Buffer): Buffer {
  if (existsSync(file)) {
    const hex = readFileSync(file, "utf8").trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new CliError(`${file}: not a 32-byte hex key`, EXIT.config, "config_invalid");
    return Buffer.from(hex, "hex");
  }
  const k = make();
  writeFileSync(file, `${k.toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  return k;
}

function load(dir: string) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const sealing = keyFile(path.join(dir, "sealing.key"), () => randomBytes(32));
  const attestation = keyFile(path.join(dir, "attestation.key"), () => Buffer.from(ed25519.utils.randomSecretKey()));
  return { sealingKey: { keyId: `e${sealingKeyId(sealing).slice(1)}`, key: sealing }, attestationSecret: attestation };
}

export async function signerd(o: { dir?: string; listen?: string; printAttestation?: boolean }) {
  process.umask(0o077);
  const dir = path.resolve(o.dir ?? process.env.SIGNERD_DIR ?? "./signerd-data");
  const keys = load(dir);
  if (o.printAttestation) {
    const attestationKey = Buffer.from(ed25519.getPublicKey(keys.attestationSecret)).toString("hex");
    process.stdout.write(`${JSON.stringify({ SIGNERD_ATTESTATION_KEY: attestationKey, SIGNERD_MEASUREMENTS: measurement({ sealingKeyId: keys.sealingKey.keyId, attestationKey }), sealing_key_id: keys.sealingKey.keyId })}\n`);
    return;
  }
  const apiKey = process.env.INTERNAL_API_KEY ?? (process.env.INTERNAL_API_KEY_FILE ? readFileSync(process.env.INTERNAL_API_KEY_FILE, "utf8").trim() : undefined);
  if (!apiKey || apiKey.length < 32) throw new CliError("INTERNAL_API_KEY: set it (at least 32 characters) in the environment or INTERNAL_API_KEY_FILE", EXIT.config, "config_invalid");
  const listen = o.listen ?? process.env.SIGNERD_LISTEN ?? `unix:${path.join(dir, "signerd.sock")}`;
  const d = createSignerd({ ...keys, internalApiKey: apiKey });
  const shutdown = () => {
    d.close();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  await new Promise<void>((resolve, reject) => {
    d.server.once("error", (e) => reject(new CliError(`signerd: cannot listen on ${listen}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, EXIT.config, "config_invalid")));
    if (listen.startsWith("unix:")) {
      const sock = listen.slice(5);
      rmSync(sock, { force: true }); // a socket left by a killed signerd
      d.server.listen(sock, () => {
        chmodSync(sock, 0o600);
        resolve();
      });
    } else {
      const m = /^(127\.\d+\.\d+\.\d+|localhost):(\d+)$/.exec(listen.replace(/^http:\/\//, ""));
      if (!m) return reject(new CliError("--listen: unix:/path or 127.0.0.1:<port> (signerd is reached only locally)", EXIT.usage, "bad_request"));
      d.server.listen(Number(m[2]), m[1], () => resolve());
    }
  });
  process.stderr.write(`clawkeep signerd: listening on ${listen} (measurement ${d.measurement}, boot ${d.bootId})\n`);
}
