// The blob-store port. Blobs are ciphertext only; keys look like `<user>/<agent>/<epoch>/<id>.enc`.
// `put` is atomic: a reader sees the whole blob or none of it, never a torn write.
export interface BlobStore {
  put(key: string, data: Uint8Array): Promise<void>;
  get(key: string): Promise<Buffer | null>;
  delete(key: string): Promise<void>;
  /** Every blob under `prefix` (a `/`-separated key prefix, or "" for all), with its write time. */
  list(prefix: string): AsyncIterable<BlobEntry>;
}

export interface BlobEntry {
  key: string;
  modified: Date;
}

const SEGMENT = /^[A-Za-z0-9_.-]{1,200}$/;

// Keys are built by us, but a key reaching the filesystem or an object store must never escape
// its root, so every adapter validates them the same way.
export function assertBlobKey(key: string): void {
  const parts = key.split("/");
  if (parts.length === 0 || parts.some((p) => !SEGMENT.test(p) || p === "." || p === "..")) {
    throw new Error("invalid blob key");
  }
}
