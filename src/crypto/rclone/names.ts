// File and directory name transforms of rclone crypt (reference §3): per `/`-separated segment,
// `standard` = PKCS#7 + EME + text encoding, `obfuscate` = keyed rotation, `off` = `.bin` suffix
// on file names only. `directory_name_encryption = false` leaves every directory segment alone.
// Standard-mode names are deterministic, so encrypt and decrypt are exact inverses and both
// directions are checked against rclone's own output in the tests.
import { EmeCipher } from "./eme.js";
import { RcloneCryptError } from "./errors.js";
import type { RcloneKeys } from "./keys.js";
import { type FilenameEncoding, type NameCodec, nameCodec } from "./name-encoding.js";
import { addVersionTag, stripVersionTag } from "./name-version.js";
import { deobfuscateSegment, obfuscateSegment } from "./obfuscate.js";

export type FilenameEncryption = "standard" | "obfuscate" | "off";
export type { FilenameEncoding } from "./name-encoding.js";

export interface NameOptions {
  /** Default `standard`. */
  readonly filenameEncryption?: FilenameEncryption;
  /** Default `true`. Ignored in `off` mode. */
  readonly directoryNameEncryption?: boolean;
  /** Default `base32`. Only used in `standard` mode. */
  readonly filenameEncoding?: FilenameEncoding;
}

const BLOCK = 16;
// EME handles at most 128 blocks; PKCS#7 always adds a byte, so 2047 is the longest segment.
const MAX_PADDED = 128 * BLOCK;
/** The fixed suffix of `off` mode in rclone 1.60. */
export const OFF_MODE_SUFFIX = ".bin";

// Per-segment memo: a directory name recurs for every file below it. Bounded; cleared when full.
const SEGMENT_CACHE_MAX = 8192;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function pkcs7Pad(b: Uint8Array): Uint8Array {
  const n = BLOCK - (b.length % BLOCK);
  const out = new Uint8Array(b.length + n);
  out.set(b);
  out.fill(n, b.length);
  return out;
}

function pkcs7Unpad(b: Uint8Array): Uint8Array {
  const n = b[b.length - 1] ?? 0;
  if (n < 1 || n > BLOCK || n > b.length) throw new RcloneCryptError("rclone_bad_name", "encrypted name has bad padding");
  for (let i = b.length - n; i < b.length; i++) {
    if (b[i] !== n) throw new RcloneCryptError("rclone_bad_name", "encrypted name has bad padding");
  }
  return b.subarray(0, b.length - n);
}

function remember(cache: Map<string, string>, k: string, v: string): void {
  if (cache.size >= SEGMENT_CACHE_MAX) cache.clear();
  cache.set(k, v);
}

export class RcloneNameCipher {
  readonly filenameEncryption: FilenameEncryption;
  readonly directoryNameEncryption: boolean;
  readonly filenameEncoding: FilenameEncoding;
  readonly #nameKey: Uint8Array;
  readonly #eme: EmeCipher;
  readonly #codec: NameCodec;
  readonly #encCache = new Map<string, string>();
  readonly #decCache = new Map<string, string>();

  constructor(keys: Pick<RcloneKeys, "nameKey" | "nameTweak">, options: NameOptions = {}) {
    this.filenameEncryption = options.filenameEncryption ?? "standard";
    this.directoryNameEncryption = options.directoryNameEncryption ?? true;
    this.filenameEncoding = options.filenameEncoding ?? "base32";
    this.#nameKey = Uint8Array.from(keys.nameKey);
    this.#eme = new EmeCipher(this.#nameKey, keys.nameTweak);
    this.#codec = nameCodec(this.filenameEncoding);
  }

  /** Standard-mode encryption of one segment given as raw bytes (names need not be UTF-8). */
  encryptSegmentBytes(plain: Uint8Array): string {
    if (plain.length === 0) return "";
    if (plain.length >= MAX_PADDED) {
      throw new RcloneCryptError("rclone_name_too_long", "name segment exceeds 2047 bytes");
    }
    return this.#codec.encode(this.#eme.transform(pkcs7Pad(plain), "encrypt"));
  }

  /** Standard-mode decryption of one segment to raw bytes. */
  decryptSegmentBytes(encrypted: string): Uint8Array {
    if (encrypted === "") return new Uint8Array(0);
    const raw = this.#codec.decode(encrypted);
    if (raw.length === 0 || raw.length % BLOCK !== 0 || raw.length > MAX_PADDED) {
      throw new RcloneCryptError("rclone_bad_name", "encrypted name has an impossible length");
    }
    return pkcs7Unpad(this.#eme.transform(raw, "decrypt"));
  }

  encryptSegment(plain: string): string {
    const hit = this.#encCache.get(plain);
    if (hit !== undefined) return hit;
    const out = this.filenameEncryption === "obfuscate"
      ? obfuscateSegment(plain, this.#nameKey)
      : this.encryptSegmentBytes(utf8.encode(plain));
    remember(this.#encCache, plain, out);
    return out;
  }

  decryptSegment(encrypted: string): string {
    const hit = this.#decCache.get(encrypted);
    if (hit !== undefined) return hit;
    let out: string;
    if (this.filenameEncryption === "obfuscate") out = deobfuscateSegment(encrypted, this.#nameKey);
    else {
      const bytes = this.decryptSegmentBytes(encrypted);
      try {
        out = strictUtf8.decode(bytes);
      } catch {
        throw new RcloneCryptError("rclone_name_not_utf8", "decrypted name is not UTF-8; use decryptSegmentBytes");
      }
    }
    remember(this.#decCache, encrypted, out);
    return out;
  }

  // Shared walk for files and (when enabled) directories: rclone applies the version-tag rule
  // to the last segment of either.
  #mapPath(path: string, op: (segment: string) => string): string {
    const segments = path.split("/");
    const last = segments.length - 1;
    return segments
      .map((seg, i) => {
        if (!this.directoryNameEncryption && i !== last) return seg;
        const versioned = i === last ? stripVersionTag(seg) : undefined;
        if (versioned === undefined) return op(seg);
        return addVersionTag(op(versioned.name), versioned.tag);
      })
      .join("/");
  }

  /** Encrypt a file path (relative to the crypt remote root) as rclone names the object. */
  encryptFilePath(path: string): string {
    if (this.filenameEncryption === "off") return path + OFF_MODE_SUFFIX;
    return this.#mapPath(path, (s) => this.encryptSegment(s));
  }

  /** Decrypt an object path as listed in the underlying remote. */
  decryptFilePath(path: string): string {
    if (this.filenameEncryption === "off") {
      if (!path.endsWith(OFF_MODE_SUFFIX) || path.length === OFF_MODE_SUFFIX.length) {
        throw new RcloneCryptError("rclone_bad_name", "file name lacks the .bin suffix of off mode");
      }
      const plain = path.slice(0, -OFF_MODE_SUFFIX.length);
      // rclone checks the whole path here, so only a top-level bare tag is refused.
      if (!plain.includes("/") && stripVersionTag(plain)?.name === "") {
        throw new RcloneCryptError("rclone_bad_name", "file name is only a version tag");
      }
      return plain;
    }
    return this.#mapPath(path, (s) => this.decryptSegment(s));
  }

  encryptDirPath(path: string): string {
    if (this.filenameEncryption === "off" || !this.directoryNameEncryption) return path;
    return this.#mapPath(path, (s) => this.encryptSegment(s));
  }

  decryptDirPath(path: string): string {
    if (this.filenameEncryption === "off" || !this.directoryNameEncryption) return path;
    return this.#mapPath(path, (s) => this.decryptSegment(s));
  }
}
