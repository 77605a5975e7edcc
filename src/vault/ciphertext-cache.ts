import type { BlobStore } from "../store/blobs/port.js";

// Verified ciphertext, kept in memory so a read does not go to the blob store (a file open, stat,
// read and close; an HTTP round trip on S3) for a value it has already read. Only ciphertext is
// kept, never a key or a plaintext: an entry opens nothing without its epoch's DEK, which every
// read still unwraps and checks (and which epoch destruction removes).
//
// An entry is found only under its blob key AND the SHA-256 that the pointer being read names, and
// it is stored only after the bytes matched that hash. A hit therefore returns exactly the bytes a
// fresh read would have to return to pass the hash check; the envelope is still opened under the
// reading pointer's AAD every time, so swapped, re-aimed or version-swapped pointers fail as
// before. Blob ids are random per write, so a key's bytes never change legitimately; the one
// thing a hit hides is a blob tampered with on disk after it was read, which is then answered
// with the authentic bytes until the entry leaves (a put or delete through this node evicts it;
// every entry goes back to the store after at most a minute).
// Writes do not fill it: a value is cached once it has been read back and checked.

export interface CiphertextCache {
  get(key: string, sha256: string): Buffer | undefined;
  set(key: string, sha256: string, ct: Buffer): void;
  evict(key: string): void;
  readonly bytes: number;
}

// What an entry costs beyond its ciphertext and key strings (Map slot, entry object, Buffer
// object and backing store, allocator slack), counted so that many small values stay within the
// budget too: measured, 200,000 entries of 120-byte values grew the process by ~1,000 bytes each.
const ENTRY_OVERHEAD = 800;

/**
 * Least-recently-used, bounded by total bytes (ciphertext plus per-entry overhead); values over
 * maxBytes/64 are not kept; 0 disables. An entry lives at most `maxAgeMs` from when it was read
 * from the store: after that the store is asked again, so a blob deleted elsewhere (an epoch
 * destroyed or a user erased on another node) is not served from here for longer than that,
 * and neither is a blob edited on disk behind the node's back.
 */
export function createCiphertextCache(maxBytes: number, maxAgeMs = 60_000, now: () => number = Date.now): CiphertextCache {
  const entries = new Map<string, { sha256: string; ct: Buffer; cost: number; readAt: number }>();
  let bytes = 0;
  const largest = Math.floor(maxBytes / 64);
  const drop = (key: string) => {
    const e = entries.get(key);
    if (!e) return;
    entries.delete(key);
    bytes -= e.cost;
  };
  return {
    get(key, sha256) {
      const e = entries.get(key);
      if (!e || e.sha256 !== sha256) return undefined;
      if (now() - e.readAt >= maxAgeMs) {
        drop(key);
        return undefined;
      }
      // Map order is insertion order: re-inserting marks the entry most recently used.
      entries.delete(key);
      entries.set(key, e);
      return e.ct;
    },
    set(key, sha256, ct) {
      if (ct.length > largest) return;
      drop(key);
      // A buffer of its own: a small Buffer.from() copy would sit in Node's shared 8 KiB pool and
      // keep the whole pool block (and whatever else shares it) alive.
      const own = Buffer.allocUnsafeSlow(ct.length);
      ct.copy(own);
      const cost = ct.length + key.length + sha256.length + ENTRY_OVERHEAD;
      entries.set(key, { sha256, ct: own, cost, readAt: now() });
      bytes += cost;
      for (const k of entries.keys()) {
        if (bytes <= maxBytes) break;
        drop(k);
      }
    },
    evict: drop,
    get bytes() {
      return bytes;
    },
  };
}

/** The blob store with this node's writes and deletes evicting what the cache holds for the key. */
export function evictingBlobStore(store: BlobStore, cache: CiphertextCache): BlobStore {
  return {
    async put(key, data) {
      cache.evict(key);
      await store.put(key, data);
      cache.evict(key);
    },
    get: (key) => store.get(key),
    async delete(key) {
      cache.evict(key);
      await store.delete(key);
      cache.evict(key);
    },
    list: (prefix) => store.list(prefix),
  };
}
