import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createS3Client, s3Error, s3Key, type S3Settings } from "../s3/client.js";
import { assertBlobKey, type BlobStore } from "./port.js";

// S3-compatible blob store. A single PutObject is atomic (readers see the old object, or none, or
// the whole new one), so no temp-and-rename is needed. Only ciphertext is ever sent.
export function createS3BlobStore(settings: S3Settings, client: S3Client = createS3Client(settings)): BlobStore {
  const key = (k: string) => {
    assertBlobKey(k);
    return s3Key(settings, k);
  };
  const strip = settings.prefix ? settings.prefix.length + 1 : 0;

  return {
    async put(k, data) {
      const Key = key(k);
      try {
        await client.send(new PutObjectCommand({ Bucket: settings.bucket, Key, Body: data, ContentLength: data.length, ContentType: "application/octet-stream" }));
      } catch (e) {
        throw s3Error(e, "write a blob");
      }
    },
    async get(k) {
      const Key = key(k);
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: settings.bucket, Key }));
        return Buffer.from(await r.Body!.transformToByteArray());
      } catch (e) {
        const name = (e as { name?: string }).name;
        if (name === "NoSuchKey" || name === "NotFound") return null;
        throw s3Error(e, "read a blob");
      }
    },
    async delete(k) {
      const Key = key(k);
      try {
        await client.send(new DeleteObjectCommand({ Bucket: settings.bucket, Key }));
      } catch (e) {
        throw s3Error(e, "delete a blob");
      }
    },
    async *list(prefix) {
      let token: string | undefined;
      const p = prefix ? key(prefix.replace(/\/$/, "")) + "/" : settings.prefix ? `${settings.prefix}/` : "";
      do {
        let r;
        try {
          r = await client.send(new ListObjectsV2Command({ Bucket: settings.bucket, Prefix: p, ContinuationToken: token }));
        } catch (e) {
          throw s3Error(e, "list blobs");
        }
        for (const o of r.Contents ?? []) if (o.Key) yield { key: o.Key.slice(strip), modified: o.LastModified ?? new Date(0) };
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    },
  };
}
