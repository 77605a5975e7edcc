import { closeSync, constants, mkdirSync, openSync, readFileSync, statSync, writeSync, fsyncSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { ClawkeepError } from "../errors.js";
import type { Redacted } from "../redacted.js";
import { derivePurposeKey } from "../crypto/hkdf.js";

export interface MasterKeySource {
  key: Buffer;
  origin: "env" | "file" | "created";
  file?: string;
}

function decode(b64: string, where: string): Buffer {
  const s = b64.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(s)) throw new ClawkeepError("config_invalid", `${where}: not base64`);
  const key = Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (key.length !== 32) throw new ClawkeepError("config_invalid", `${where}: must decode to exactly 32 bytes`);
  return key;
}

// Writes a new key file with O_EXCL so two processes starting at once cannot both create one.
function createKeyFile(file: string): Buffer {
  const key = randomBytes(32);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, `${key.toString("base64")}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return key;
}

export function loadMasterKey(
  cfg: { masterKey: Redacted<string> | undefined; dataDir: string },
  opts: { create: boolean },
): MasterKeySource {
  if (cfg.masterKey) return { key: decode(cfg.masterKey.unwrap(), "CLAWKEEP_MASTER_KEY"), origin: "env" };
  const file = path.join(cfg.dataDir, "master.key");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new ClawkeepError("config_invalid", `CLAWKEEP_MASTER_KEY: cannot read ${file}`);
    }
    if (!opts.create) {
      throw new ClawkeepError("config_invalid", `CLAWKEEP_MASTER_KEY: unset and ${file} does not exist`);
    }
    try {
      return { key: createKeyFile(file), origin: "created", file };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      text = readFileSync(file, "utf8");
    }
  }
  if ((statSync(file).mode & 0o077) !== 0) {
    throw new ClawkeepError("config_invalid", `CLAWKEEP_MASTER_KEY: ${file} is readable by group or others; chmod 600 it`);
  }
  return { key: decode(text, file), origin: "file", file };
}

/** Previous master keys (base64, comma-separated), loaded only while a master-key rotation runs. */
export function loadPreviousMasterKeys(cfg: { previousMasterKeys: Redacted<string> | undefined }): Buffer[] {
  const raw = cfg.previousMasterKeys?.unwrap() ?? "";
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => decode(s, "CLAWKEEP_PREVIOUS_MASTER_KEYS"));
}

export interface KeySet {
  /** Key id of the primary master key: what wraps new DEKs and MACs new audit events. */
  primaryId: string;
  keks: { keyId: string; kek: Buffer }[];
  auditKeys: { id: string; key: Buffer }[];
  /** Seed of the ed25519 key that signs audit checkpoints (primary master key). */
  checkpointSeed: Buffer;
  /** Checkpoint seeds of every loaded master key, primary first: checkpoints they signed are trusted. */
  checkpointSeeds: Buffer[];
  /** Keys sealing agent secrets, primary first (previous ones only open, during a rotation). */
  agentSecretKeys: Buffer[];
  /** Key API-token digests, primary first (earlier keys verify tokens issued before a rotation). */
  tokenKeys: Buffer[];
  /** MAC rows a database writer must not forge (users' admin flag, support grants), primary first. */
  rowKeys: Buffer[];
  /** Signs short-lived agent tokens (primary master key only: tokens outlive no rotation). */
  sessionKey: Buffer;
  /** Seal signer private keys in worker mode when WORKER_SEALING_KEY is unset, primary first. */
  sealKeys: { keyId: string; key: Buffer }[];
  /** Signs sign tickets when TICKET_SIGNING_SECRET is unset (primary only: tickets live minutes). */
  ticketKey: Buffer;
}

export const masterKeyId = (master: Uint8Array): string => derivePurposeKey(master, "keyId").subarray(0, 8).toString("hex");

// Everything the running system derives from its master keys, primary first.
export function deriveKeySet(primary: Uint8Array, previous: Uint8Array[] = []): KeySet {
  const all = [primary, ...previous];
  return {
    primaryId: masterKeyId(primary),
    keks: all.map((m) => ({ keyId: masterKeyId(m), kek: derivePurposeKey(m, "kek") })),
    auditKeys: all.map((m) => ({ id: masterKeyId(m), key: derivePurposeKey(m, "audit") })),
    checkpointSeed: derivePurposeKey(primary, "checkpoint"),
    checkpointSeeds: all.map((m) => derivePurposeKey(m, "checkpoint")),
    agentSecretKeys: all.map((m) => derivePurposeKey(m, "agentSecret")),
    tokenKeys: all.map((m) => derivePurposeKey(m, "token")),
    rowKeys: all.map((m) => derivePurposeKey(m, "row")),
    sessionKey: derivePurposeKey(primary, "session"),
    sealKeys: all.map((m) => ({ keyId: masterKeyId(m), key: derivePurposeKey(m, "seal") })),
    ticketKey: derivePurposeKey(primary, "ticket"),
  };
}
