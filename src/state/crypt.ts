// The crypt layer over a Remote: plain paths <-> rclone crypt names (standard mode, base32,
// directory names encrypted — rclone's defaults) and streaming rclone crypt contents. Keys come
// from the seed's variables via resolveCryptSecrets; nothing here ever logs them.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import {
  createDecryptStream,
  createEncryptStream,
  decryptedSize,
  deriveRcloneKeys,
  encryptedSize,
  RcloneNameCipher,
} from "../crypto/rclone/index.js";
import { ClawkeepError } from "../errors.js";
import { resolveCryptSecrets, StateKeyError } from "./keys.js";
import { openRemote, type Remote, type RemoteObject } from "./remote.js";

export interface StateContext {
  readonly remote: Remote;
  readonly names: RcloneNameCipher;
  readonly dataKey: Uint8Array;
  /** A one-way fingerprint of the keys, so a manifest made under other keys is not trusted. */
  readonly keyId: string;
}

export interface PlainObject {
  readonly path: string;
  readonly obj: RemoteObject;
  /** NaN when the stored size is impossible for rclone crypt (a truncated object). */
  readonly plainSize: number;
}

export async function openState(remoteUrl: string, env: NodeJS.ProcessEnv): Promise<StateContext> {
  let secrets;
  try {
    secrets = resolveCryptSecrets(env);
  } catch (e) {
    if (e instanceof StateKeyError) throw new ClawkeepError("config_invalid", "MASTER_KEY (or MASTER_KEY_FILE, or RCLONE_CRYPT_PASSWORD) is not set");
    throw new ClawkeepError("config_invalid", "RCLONE_CRYPT_PASSWORD(2) is not a valid rclone-obscured value");
  }
  const keys = await deriveRcloneKeys(secrets.password, secrets.password2);
  const keyId = createHash("sha256").update("clawkeep-state-key-id\0").update(keys.dataKey).update(keys.nameKey).digest("hex").slice(0, 16);
  const remote = await openRemote(remoteUrl, env);
  return { remote, names: new RcloneNameCipher(keys), dataKey: keys.dataKey, keyId };
}

/**
 * List the remote with decrypted names. Names that do not decrypt are counted and left alone
 * (never deleted); if there are objects and none decrypts, the keys are wrong and we stop.
 */
export async function listPlain(ctx: StateContext): Promise<{ files: Map<string, PlainObject>; undecryptable: number }> {
  const files = new Map<string, PlainObject>();
  let undecryptable = 0;
  for await (const obj of ctx.remote.list()) {
    let path: string;
    try {
      path = ctx.names.decryptFilePath(obj.key);
    } catch {
      undecryptable++;
      continue;
    }
    let plainSize = Number.NaN;
    try {
      plainSize = decryptedSize(obj.size);
    } catch {
      /* reported when the object is fetched */
    }
    files.set(path, { path, obj, plainSize });
  }
  if (files.size === 0 && undecryptable > 0) {
    throw new ClawkeepError(
      "integrity_error",
      `none of the ${undecryptable} object names in ${ctx.remote.label} decrypts with these keys: wrong MASTER_KEY or RCLONE_CRYPT_PASSWORD(2)?`,
    );
  }
  return { files, undecryptable };
}

/** Encrypt `source` (exactly `size` plaintext bytes) to the object for `path`. */
export function putPlain(ctx: StateContext, path: string, source: Readable, size: number, mtimeMs: number): Promise<string> {
  const enc = createEncryptStream(ctx.dataKey);
  source.on("error", (e) => enc.destroy(e));
  return ctx.remote.put(ctx.names.encryptFilePath(path), source.pipe(enc), encryptedSize(size), mtimeMs);
}

/** Open the decrypted contents of a listed object; errors from the stream are typed rclone errors. */
export async function getPlain(ctx: StateContext, o: PlainObject): Promise<{ body: Readable; mtimeMs: number | undefined }> {
  if (Number.isNaN(o.plainSize)) {
    throw new ClawkeepError("integrity_error", `remote object for ${o.path} is truncated (impossible encrypted size ${o.obj.size})`);
  }
  const r = await ctx.remote.get(o.obj.key);
  const dec = createDecryptStream(ctx.dataKey);
  r.body.on("error", (e) => dec.destroy(e));
  return { body: r.body.pipe(dec), mtimeMs: r.mtimeMs ?? o.obj.mtimeMs };
}

export const removePlain = (ctx: StateContext, o: PlainObject) => ctx.remote.delete(o.obj.key);
