// An S3 bucket prefix as a remote, through the project's shared S3 client (seed-000 variables).
// A PUT replaces an object atomically, and multipart uploads only appear once completed, so a
// reader never sees a partial object. The plaintext mtime goes in the `mtime` user metadata as
// seconds with a fraction, which is where rclone's s3 backend keeps it.
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { Readable } from "node:stream";
import { ClawkeepError } from "../errors.js";
import { createS3Client, s3Error, s3Key, type S3Settings, s3Settings } from "../store/s3/client.js";
import type { GetResult, Remote, RemoteObject } from "./remote.js";

const PART_SIZE = 8 * 1024 * 1024;

const unquote = (etag: string | undefined) => (etag ?? "").replace(/"/g, "");

export class S3Remote implements Remote {
  readonly label: string;

  private constructor(
    private readonly s: S3Settings,
    private readonly client: S3Client,
  ) {
    this.label = `s3://${s.bucket}/${s.prefix}`;
  }

  static open(url: string, env: NodeJS.ProcessEnv): S3Remote {
    const s = s3Settings(url, env, { defaultPrefix: "openclaw-state", variable: "--remote" });
    return new S3Remote(s, createS3Client(s));
  }

  async check(_opts: { create: boolean }): Promise<void> {
    // Buckets are never created here: a missing bucket is a configuration mistake to report.
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.s.bucket }));
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (e as { name?: string }).name === "NotFound") {
        throw new ClawkeepError("unavailable", `S3 bucket ${this.s.bucket} does not exist`, { cause: e });
      }
      throw s3Error(e, "reach the bucket");
    }
  }

  async *list(): AsyncIterable<RemoteObject> {
    const base = this.s.prefix ? `${this.s.prefix}/` : "";
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.s.bucket, Prefix: base, ContinuationToken: token }));
      } catch (e) {
        throw s3Error(e, "list the state objects");
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith("/")) continue;
        yield { key: o.Key.slice(base.length), size: o.Size ?? 0, mtimeMs: undefined, version: unquote(o.ETag) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async get(key: string): Promise<GetResult> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.s.bucket, Key: s3Key(this.s, key) }));
      const mtime = Number(r.Metadata?.mtime);
      return { body: r.Body as Readable, size: r.ContentLength ?? 0, mtimeMs: Number.isFinite(mtime) && mtime > 0 ? mtime * 1000 : undefined };
    } catch (e) {
      if ((e as { name?: string }).name === "NoSuchKey") throw new ClawkeepError("not_found", `remote object vanished: ${key}`);
      throw s3Error(e, "download a state object");
    }
  }

  async put(key: string, body: Readable | Uint8Array, _size: number, mtimeMs: number): Promise<string> {
    // lib-storage sends one PUT for small bodies and a multipart upload (at most queueSize parts
    // in memory) for large ones, so memory stays bounded whatever the file size.
    const up = new Upload({
      client: this.client,
      params: { Bucket: this.s.bucket, Key: s3Key(this.s, key), Body: body, Metadata: { mtime: (mtimeMs / 1000).toFixed(9) } },
      partSize: PART_SIZE,
      queueSize: 2,
      leavePartsOnError: false,
    });
    try {
      const r = await up.done();
      return unquote(r.ETag);
    } catch (e) {
      throw s3Error(e, "upload a state object");
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.s.bucket, Key: s3Key(this.s, key) }));
    } catch (e) {
      throw s3Error(e, "delete a state object");
    }
  }

  close(): void {
    this.client.destroy();
  }
}
