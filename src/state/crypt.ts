// The crypt layer over a Remote: plain paths <-> rclone crypt names (standard mode, base32,
// directory names encrypted — rclone's defaults) and streaming rclone crypt contents. Keys come
// from the seed's variables via resolveCryptSecrets; nothing here ever logs them.
//
// scrypt runs once per process, in the background: openState starts it and returns, so the
// local scan and the remote listing overlap it, and only code that needs a key awaits it.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import {
  createDecryptStream,
  decryptedSize,
  deriveRcloneKeys,
  encryptContents,
  encryptedSize,
  RcloneNameCipher,
} from "../crypto/rclone/index.js";
import { ClawkeepError } from "../errors.js";
import { resolveCryptSecrets, StateKeyError } from "./keys.js";
import type { Manifest } from "./manifest.js";
import { type ListOptions, openRemote, type Remote, type RemoteObject } from "./remote.js";
import { STATE_DIR } from "./scan.js";

export interface CryptKeys {
  readonly names: RcloneNameCipher;
  readonly dataKey: Uint8Array;
  /** A one-way fingerprint of the keys, so a manifest made under other keys is not trusted. */
  readonly keyId: string;
}

export interface StateContext {
  readonly remote: Remote;
  /** Derived once per process (scrypt); await it only where a key is needed. */
  readonly keys: Promise<CryptKeys>;
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
  const keys = deriveRcloneKeys(secrets.password, secrets.password2).then((k) => ({
    names: new RcloneNameCipher(k),
    dataKey: k.dataKey,
    keyId: createHash("sha256").update("clawkeep-state-key-id\0").update(k.dataKey).update(k.nameKey).digest("hex").slice(0, 16),
  }));
  keys.catch(() => undefined); // surfaced where it is awaited; never an unhandled rejection
  const remote = await openRemote(remoteUrl, env);
  return { remote, keys };
}

/** The whole remote listing, fetched once. */
export async function listRemote(ctx: StateContext, o?: ListOptions): Promise<RemoteObject[]> {
  if (ctx.remote.listAll) return ctx.remote.listAll(o);
  const out: RemoteObject[] = [];
  for await (const obj of ctx.remote.list(o)) out.push(obj);
  return out;
}

/**
 * Give listed objects their plain paths. A name the manifest recorded (it is tied to these
 * keys) is looked up instead of decrypted, so an unchanged tree needs no name decryption at
 * all. Names that do not decrypt are counted and left alone (never deleted); if there are
 * objects and none decrypts, the keys are wrong and we stop.
 */
export function plainListing(
  keys: CryptKeys,
  label: string,
  objs: readonly RemoteObject[],
  m: Manifest,
  /** m's encrypted name → path map, when the caller has already built it. */
  byEnc?: ReadonlyMap<string, string>,
): { files: Map<string, PlainObject>; undecryptable: number } {
  let known = byEnc;
  if (!known) {
    const k = new Map<string, string>();
    for (const [p, e] of Object.entries(m.files)) if (e.enc !== undefined) k.set(e.enc, p);
    known = k;
  }
  const files = new Map<string, PlainObject>();
  let undecryptable = 0;
  for (const obj of objs) {
    let path = known.get(obj.key);
    if (path === undefined) {
      try {
        path = keys.names.decryptFilePath(obj.key);
      } catch {
        undecryptable++;
        continue;
      }
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
      `none of the ${undecryptable} object names in ${label} decrypts with these keys: wrong MASTER_KEY or RCLONE_CRYPT_PASSWORD(2)?`,
    );
  }
  return { files, undecryptable };
}

/**
 * Plain paths of listed empty directories (rclone's --create-empty-src-dirs convention), keyed
 * to their encrypted keys. Names that do not decrypt, or that would leave the state dir or
 * name our bookkeeping, are left out.
 */
export function plainEmptyDirs(keys: CryptKeys, encrypted: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of encrypted) {
    let p: string;
    try {
      p = keys.names.decryptDirPath(k);
    } catch {
      continue;
    }
    const segs = p.split("/");
    if (segs.some((s) => s === "" || s === "." || s === "..") || segs[0] === STATE_DIR) continue;
    out.set(p, k);
  }
  return out;
}

/** The encrypted object name for `path` (the manifest's copy when it has one). */
export function objectName(keys: CryptKeys, m: Manifest, path: string): string {
  return m.files[path]?.enc ?? keys.names.encryptFilePath(path);
}

/** Upload an already encrypted stream (exactly encryptedSize(size) bytes) to `key`. */
export function putEncrypted(ctx: StateContext, key: string, body: Readable, size: number, mtimeMs: number): Promise<string> {
  return ctx.remote.put(key, body, encryptedSize(size), mtimeMs);
}

/** Encrypt a small plaintext in one go and upload it to `key`. */
export function putSmall(ctx: StateContext, keys: CryptKeys, key: string, plain: Uint8Array, mtimeMs: number): Promise<string> {
  const enc = encryptContents(keys.dataKey, plain);
  return ctx.remote.put(key, enc, enc.length, mtimeMs);
}

/** Open the decrypted contents of a listed object; errors from the stream are typed rclone errors. */
export async function getPlain(ctx: StateContext, keys: CryptKeys, o: PlainObject): Promise<{ body: Readable; mtimeMs: number | undefined }> {
  if (Number.isNaN(o.plainSize)) {
    throw new ClawkeepError("integrity_error", `remote object for ${o.path} is truncated (impossible encrypted size ${o.obj.size})`);
  }
  const r = await ctx.remote.get(o.obj.key);
  const dec = createDecryptStream(keys.dataKey);
  r.body.on("error", (e) => dec.destroy(e));
  return { body: r.body.pipe(dec), mtimeMs: r.mtimeMs ?? o.obj.mtimeMs };
}

export const removePlain = (ctx: StateContext, o: PlainObject) => ctx.remote.delete(o.obj.key);

/**
 * The boot preflight of `state up`: the remote answers and its names open with these keys,
 * checked before anything is mounted, restored or written, so a wrong MASTER_KEY or an
 * unreachable bucket stops the boot with nothing changed anywhere. A `file://` remote that does
 * not exist yet is a first boot (false); a missing bucket stays an error.
 */
export async function preflight(ctx: StateContext): Promise<{ exists: boolean; objects: number }> {
  try {
    await ctx.remote.check({ create: false });
  } catch (e) {
    if ((e as ClawkeepError).code === "not_found" && ctx.remote.label.startsWith("file://")) return { exists: false, objects: 0 };
    throw e;
  }
  const objs = await listRemote(ctx);
  const keys = await ctx.keys;
  const { files } = plainListing(keys, ctx.remote.label, objs, { v: 1, remote: "", keyId: keys.keyId, files: {} });
  return { exists: true, objects: files.size };
}
