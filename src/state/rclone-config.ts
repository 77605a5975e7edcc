// An rclone.conf equivalent to what Clawkeep reads and writes: for s3:// an `s3` remote (seed
// variables) and an `s3-crypt` crypt remote over bucket/prefix; for file:// a crypt remote over
// the directory. Passwords are written obscured (rclone's config form); the file is created
// 0600 because it holds them (and, unless env_auth, the S3 keys).
import { chmod, open } from "node:fs/promises";
import path from "node:path";
import { ClawkeepError } from "../errors.js";
import { s3Settings } from "../store/s3/client.js";
import type { ResolvedCryptSecrets } from "./keys.js";

export interface RcloneConf {
  text: string;
  /** The crypt remote to use, e.g. `s3-crypt:`. */
  cryptRemote: string;
}

// rclone's INI parser has no quoting: a newline would inject a line, so refuse such values.
function val(name: string, v: string): string {
  if (/[\r\n]/.test(v)) throw new ClawkeepError("config_invalid", `${name}: must not contain a line break`);
  return v;
}

export function rcloneConf(url: string, env: NodeJS.ProcessEnv, secrets: ResolvedCryptSecrets, o: { envAuth?: boolean } = {}): RcloneConf {
  const crypt = (name: string, remote: string) =>
    [
      `[${name}]`,
      "type = crypt",
      `remote = ${val("remote", remote)}`,
      `password = ${secrets.passwordObscured}`,
      ...(secrets.password2Obscured ? [`password2 = ${secrets.password2Obscured}`] : []),
      "filename_encryption = standard",
      "directory_name_encryption = true",
      "",
    ].join("\n");
  if (url.startsWith("file://")) {
    const dir = decodeURIComponent(new URL(url).pathname);
    return { text: crypt("state-crypt", dir), cryptRemote: "state-crypt:" };
  }
  const s = s3Settings(url, env, { defaultPrefix: "openclaw-state", variable: "--remote" });
  const lines = ["[s3]", "type = s3", `provider = ${val("S3_PROVIDER", s.provider)}`, `region = ${val("S3_REGION", s.region)}`];
  if (s.endpoint) lines.push(`endpoint = ${val("S3_ENDPOINT", s.endpoint)}`);
  lines.push(`force_path_style = ${String(s.forcePathStyle)}`, "no_check_bucket = true");
  if (o.envAuth || !s.accessKeyId || !s.secretAccessKey) lines.push("env_auth = true");
  else lines.push(`access_key_id = ${val("AWS_ACCESS_KEY_ID", s.accessKeyId)}`, `secret_access_key = ${val("AWS_SECRET_ACCESS_KEY", s.secretAccessKey.unwrap())}`);
  lines.push("");
  const remote = `s3:${s.bucket}${s.prefix ? `/${s.prefix}` : ""}`;
  return { text: `${lines.join("\n")}\n${crypt("s3-crypt", remote)}`, cryptRemote: "s3-crypt:" };
}

/** Write the config with mode 0600 from the first byte (never world-readable, even briefly). */
export async function writePrivate(file: string, text: string): Promise<void> {
  const fh = await open(path.resolve(file), "w", 0o600);
  try {
    await fh.chmod(0o600); // the file may have existed with a looser mode
    await fh.writeFile(text);
  } finally {
    await fh.close();
  }
  await chmod(file, 0o600);
}
