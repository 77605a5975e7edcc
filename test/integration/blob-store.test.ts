import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import type { BlobStore } from "../../src/store/blobs/port.js";
import { createFileBlobStore } from "../../src/store/blobs/file.js";
import { createS3BlobStore } from "../../src/store/blobs/s3.js";
import { s3Settings } from "../../src/store/s3/client.js";
import { ClawkeepError } from "../../src/errors.js";
import { tempDir } from "../helpers/runtime.js";
import { startS3, type S3Server } from "../helpers/s3.js";

// One contract, every adapter: the local folder and a real S3 protocol server.

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => s3.stop());

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const adapters: [string, () => BlobStore][] = [
  ["file", () => createFileBlobStore(dir)],
  ["s3 (s3rver)", () => createS3BlobStore(s3Settings(`s3://${s3.bucket}/contract`, s3.env))],
];

describe.each(adapters)("blob store contract: %s", (_name, make) => {
  it("put, get, overwrite, delete", async () => {
    const store = make();
    const data = randomBytes(70_000);
    await store.put("u1/agent/1/aa.enc", data);
    expect((await store.get("u1/agent/1/aa.enc"))!.equals(data)).toBe(true);
    await store.put("u1/agent/1/aa.enc", Buffer.from("second"));
    expect((await store.get("u1/agent/1/aa.enc"))!.toString()).toBe("second");
    await store.delete("u1/agent/1/aa.enc");
    expect(await store.get("u1/agent/1/aa.enc")).toBeNull();
    await store.delete("u1/agent/1/aa.enc"); // idempotent
  });

  it("lists by prefix with modification times, and nothing else", async () => {
    const store = make();
    const before = Date.now() - 5_000;
    await store.put("u2/a/1/x1.enc", Buffer.from("1"));
    await store.put("u2/a/2/x2.enc", Buffer.from("2"));
    await store.put("u2/b/1/x3.enc", Buffer.from("3"));
    await store.put("u3/a/1/x4.enc", Buffer.from("4"));
    const list = async (p: string) => {
      const out = [];
      for await (const e of store.list(p)) out.push(e);
      return out.sort((a, b) => a.key.localeCompare(b.key));
    };
    expect((await list("u2")).map((e) => e.key)).toEqual(["u2/a/1/x1.enc", "u2/a/2/x2.enc", "u2/b/1/x3.enc"]);
    expect((await list("u2/a")).map((e) => e.key)).toEqual(["u2/a/1/x1.enc", "u2/a/2/x2.enc"]);
    expect(await list("u9")).toEqual([]);
    for (const e of await list("u2")) expect(e.modified.getTime()).toBeGreaterThan(before);
  });

  it("refuses keys that could escape the store", async () => {
    const store = make();
    for (const k of ["../x.enc", "a/../../x.enc", "/abs.enc", "a//b.enc", "a/./b.enc", ""]) {
      await expect(store.put(k, Buffer.from("x"))).rejects.toThrow(/invalid blob key/);
    }
  });
});

describe("file adapter", () => {
  it("leaves no temp files behind", async () => {
    const store = createFileBlobStore(dir);
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.put(`t/a/1/f${i}.enc`, randomBytes(1000))));
    expect(readdirSync(`${dir}/t/a/1`).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });
});

describe("s3 adapter errors", () => {
  it("wrong credentials and a missing bucket are clear `unavailable` errors", async () => {
    const bad = createS3BlobStore(s3Settings(`s3://${s3.bucket}/p`, { ...s3.env, AWS_ACCESS_KEY_ID: "WRONG" }));
    const e1 = await bad.put("a/b/1/c.enc", Buffer.from("x")).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ClawkeepError);
    expect((e1 as ClawkeepError).code).toBe("unavailable");
    expect((e1 as Error).message).toMatch(/credentials/);
    expect((e1 as Error).message).not.toContain("S3RVER");
    const nob = createS3BlobStore(s3Settings("s3://no-such-bucket/p", s3.env));
    await expect(nob.put("a/b/1/c.enc", Buffer.from("x"))).rejects.toThrow(/bucket does not exist/);
  });

  it("a stopped server is an `unavailable` error after retries", async () => {
    const other = await startS3();
    const store = createS3BlobStore(s3Settings(`s3://${other.bucket}/p`, other.env));
    await store.put("a/b/1/c.enc", Buffer.from("x"));
    await other.stop();
    const e = await store.get("a/b/1/c.enc").catch((err: unknown) => err);
    expect((e as ClawkeepError).code).toBe("unavailable");
  });

  it("rejects malformed settings naming the variable", () => {
    expect(() => s3Settings("s3://", {})).toThrow(/CLAWKEEP_BLOB_URL/);
    expect(() => s3Settings("s3://Bad_Bucket/x", {})).toThrow(/bucket/);
    expect(() => s3Settings("s3://ok-bucket/x", { S3_ENDPOINT: "ftp://x" })).toThrow(/S3_ENDPOINT/);
  });
});
