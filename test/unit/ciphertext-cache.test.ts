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

  it("stays within its byte budget, counting each entry's overhead, least recently used out first", () => {
    const budget = 64 * 4000; // values up to 4,000 bytes are kept
    const c = createCiphertextCache(budget);
    for (let i = 0; i < 200; i++) {
      c.set(`k${i}`, "h", bytes(1000));
      expect(c.bytes).toBeLessThanOrEqual(budget);
    }
    // Fewer than budget / 1,000 entries fit: the overhead is counted too.
    const kept = [...Array(200).keys()].filter((i) => c.get(`k${i}`, "h") !== undefined);
    expect(kept.length).toBeGreaterThan(100);
    expect(kept.length).toBeLessThan(budget / 1000);
    // The oldest went first: what is kept is the most recent run of keys.
    expect(kept).toEqual([...Array(kept.length).keys()].map((i) => 200 - kept.length + i));
    // A hit makes an entry the most recently used.
    const oldest = kept[0]!;
    expect(c.get(`k${oldest}`, "h")).toBeDefined();
    c.set("new", "h", bytes(1000));
    expect(c.get(`k${oldest}`, "h")).toBeDefined();
    expect(c.get(`k${oldest + 1}`, "h")).toBeUndefined();
    c.set("big", "h", bytes(4001));
    expect(c.get("big", "h")).toBeUndefined();
  });

  it("sends a read back to the store once an entry is a minute old, hits or not", () => {
    let t = 0;
    const c = createCiphertextCache(1 << 20, 60_000, () => t);
    c.set("k", "h", bytes(10));
    t = 59_999;
    expect(c.get("k", "h")).toBeDefined();
    t = 60_000;
    expect(c.get("k", "h")).toBeUndefined();
    expect(c.bytes).toBe(0);
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
