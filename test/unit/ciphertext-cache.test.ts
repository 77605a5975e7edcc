import { describe, expect, it } from "vitest";
import { createCiphertextCache, evictingBlobStore } from "../../src/vault/ciphertext-cache.js";
import type { BlobStore } from "../../src/store/blobs/port.js";

const bytes = (n: number, fill = 1) => Buffer.alloc(n, fill);

describe("ciphertext cache", () => {
  it("answers only for the same key and the same SHA-256, and keeps its own copy", () => {
    const c = createCiphertextCache(1 << 20);
    const ct = bytes(100, 7);
    c.set("u/a/1/x.enc", "aa", ct);
    ct.fill(0); // the caller's buffer changing later must not change what was cached
    expect(c.get("u/a/1/x.enc", "aa")).toEqual(bytes(100, 7));
    expect(c.get("u/a/1/x.enc", "bb")).toBeUndefined();
    expect(c.get("u/a/1/y.enc", "aa")).toBeUndefined();
  });

  it("stays within its byte budget, dropping the least recently used first", () => {
    const c = createCiphertextCache(64 * 1000); // values up to 1,000 bytes are kept
    for (let i = 0; i < 64; i++) c.set(`k${i}`, "h", bytes(1000));
    expect(c.bytes).toBe(64_000);
    expect(c.get("k0", "h")).toBeDefined(); // k0 is now the most recently used
    c.set("k64", "h", bytes(1000));
    expect(c.bytes).toBe(64_000);
    expect(c.get("k1", "h")).toBeUndefined();
    expect(c.get("k0", "h")).toBeDefined();
    c.set("big", "h", bytes(1001));
    expect(c.get("big", "h")).toBeUndefined();
  });

  it("size 0 keeps nothing", () => {
    const c = createCiphertextCache(0);
    c.set("k", "h", bytes(1));
    expect(c.get("k", "h")).toBeUndefined();
    expect(c.bytes).toBe(0);
  });

  it("a put or delete through the store evicts the key", async () => {
    const data = new Map<string, Buffer>();
    const store: BlobStore = {
      put: async (k, d) => void data.set(k, Buffer.from(d)),
      get: async (k) => data.get(k) ?? null,
      delete: async (k) => void data.delete(k),
      list: async function* () {},
    };
    const c = createCiphertextCache(1 << 20);
    const s = evictingBlobStore(store, c);
    c.set("k", "h", bytes(10));
    await s.put("k", bytes(10, 2));
    expect(c.get("k", "h")).toBeUndefined();
    c.set("k", "h", bytes(10));
    await s.delete("k");
    expect(c.get("k", "h")).toBeUndefined();
    expect(await s.get("k")).toBeNull();
  });
});
