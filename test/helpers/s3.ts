import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import S3rver from "s3rver";

// A real S3 protocol server (s3rver) on a free loopback port, with one bucket. Its default
// credentials are S3RVER / S3RVER; it checks request signatures, so wrong keys are refused.
export interface S3Server {
  endpoint: string;
  bucket: string;
  dir: string;
  port: number;
  env: Record<string, string>;
  stop: () => Promise<void>;
  /** Stops the server but keeps its objects, so it can be started again on the same port. */
  pause: () => Promise<void>;
}

export async function startS3(bucket = "clawkeep-test", reuse?: { dir: string; port: number }): Promise<S3Server> {
  const dir = reuse?.dir ?? mkdtempSync(path.join(tmpdir(), "ck-s3-"));
  const server = new S3rver({ port: reuse?.port ?? 0, address: "127.0.0.1", silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
  const addr = (await server.run()) as { address: string; port: number };
  const endpoint = `http://127.0.0.1:${addr.port}`;
  return {
    endpoint,
    bucket,
    dir,
    port: addr.port,
    pause: () => server.close(),
    env: { S3_ENDPOINT: endpoint, S3_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", S3_MAX_ATTEMPTS: "2" },
    async stop() {
      await server.close().catch(() => undefined); // already paused

      rmSync(dir, { recursive: true, force: true });
    },
  };
}
