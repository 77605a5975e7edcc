import { S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { ClawkeepError } from "../../errors.js";
import { Redacted } from "../../redacted.js";
import { reasonOf } from "../meta/errors.js";

// The one place that builds S3 clients, shared by the blob store and the state-sync remotes.
// Settings follow seed 000's variables: S3_BUCKET, S3_ENDPOINT, S3_PREFIX, S3_REGION
// (default us-east-1), S3_PROVIDER (default Other), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.

export interface S3Settings {
  bucket: string;
  prefix: string;
  endpoint: string | undefined;
  region: string;
  provider: string;
  forcePathStyle: boolean;
  accessKeyId: string | undefined;
  secretAccessKey: Redacted<string> | undefined;
  maxAttempts: number;
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://bucket/prefix` (the prefix may be empty) with the S3_* / AWS_* variables. */
export function s3Settings(url: string | undefined, env: NodeJS.ProcessEnv, opts: { defaultPrefix?: string; variable?: string } = {}): S3Settings {
  const variable = opts.variable ?? "CLAWKEEP_BLOB_URL";
  let bucket = env.S3_BUCKET;
  let prefix = env.S3_PREFIX ?? opts.defaultPrefix ?? "";
  if (url !== undefined) {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
    if (!m) throw new ClawkeepError("config_invalid", `${variable}: expected s3://bucket/prefix`);
    bucket = m[1];
    if (m[2]) prefix = m[2];
  }
  if (!bucket || !BUCKET_RE.test(bucket)) throw new ClawkeepError("config_invalid", `${url !== undefined ? variable : "S3_BUCKET"}: not a valid bucket name`);
  prefix = prefix.replace(/^\/+|\/+$/g, "");
  const endpoint = env.S3_ENDPOINT || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(endpoint)) throw new ClawkeepError("config_invalid", "S3_ENDPOINT: must be an http(s) URL");
  const provider = env.S3_PROVIDER || "Other";
  const region = env.S3_REGION || "us-east-1";
  // AWS itself uses virtual-hosted style; MinIO, s3rver and most self-hosted servers need path
  // style. S3_FORCE_PATH_STYLE overrides the guess.
  const pathStyleEnv = env.S3_FORCE_PATH_STYLE;
  const forcePathStyle = pathStyleEnv !== undefined && pathStyleEnv !== "" ? pathStyleEnv === "true" || pathStyleEnv === "1" : endpoint !== undefined && provider !== "AWS";
  const attempts = Number(env.S3_MAX_ATTEMPTS ?? 5);
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 20) throw new ClawkeepError("config_invalid", "S3_MAX_ATTEMPTS: must be an integer 1..20");
  return {
    bucket,
    prefix,
    endpoint,
    region,
    provider,
    forcePathStyle,
    accessKeyId: env.AWS_ACCESS_KEY_ID || undefined,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY ? new Redacted(env.AWS_SECRET_ACCESS_KEY) : undefined,
    maxAttempts: attempts,
  };
}

export function createS3Client(s: S3Settings): S3Client {
  return new S3Client({
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    forcePathStyle: s.forcePathStyle,
    // Standard retry mode: exponential backoff with jitter on throttling, 5xx and network errors.
    maxAttempts: s.maxAttempts,
    retryMode: "standard",
    // S3-compatible servers (R2, MinIO, s3rver) reject or mishandle the newer default checksums.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...(s.accessKeyId && s.secretAccessKey ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey.unwrap() } } : {}),
  });
}

/** Object key under the configured prefix. */
export const s3Key = (s: S3Settings, key: string) => (s.prefix ? `${s.prefix}/${key}` : key);

// Turns S3 failures into clear errors without echoing credentials or object contents.
export function s3Error(e: unknown, what: string): ClawkeepError {
  if (e instanceof ClawkeepError) return e;
  const name = (e as { name?: string }).name ?? "";
  const status = e instanceof S3ServiceException ? e.$metadata.httpStatusCode : undefined;
  if (["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden"].includes(name) || status === 403) {
    return new ClawkeepError("unavailable", `S3 refused the credentials or permissions while trying to ${what} (${name || status})`, { cause: e });
  }
  if (name === "NoSuchBucket") return new ClawkeepError("unavailable", `S3 bucket does not exist (while trying to ${what})`, { cause: e });
  const { code, syscall, address, port, hostname } = e as { code?: string; syscall?: string; address?: string; port?: number; hostname?: string };
  // A network failure carries its errno; the SDK's own name for it is just "Error".
  if (code && (syscall === "connect" || syscall === "getaddrinfo")) {
    const at = address ? `${address}${port ? `:${port}` : ""}` : (hostname ?? "the endpoint");
    return new ClawkeepError("unavailable", `S3 unreachable while trying to ${what} (${reasonOf(code)} at ${at}): is S3_ENDPOINT right, and the server up?`, { cause: e });
  }
  return new ClawkeepError("unavailable", `S3 unavailable while trying to ${what} (${(name !== "Error" && name) || code || status || "error"})`, { cause: e });
}
