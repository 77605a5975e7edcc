import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { api, clientEnv, json } from "../client.js";
import { CliError, EXIT } from "../exit.js";

// `clawkeep login`: the seed's challenge login from a terminal. Prints the Telegram deep link,
// waits for the bot to resolve the challenge, then writes the session token to a 0600 file
// (never to stdout, which ends up in logs and scrollback).

export async function login(o: { tokenFile?: string; telegramUserId?: string; pollSeconds?: string; json?: boolean }) {
  const env = clientEnv(process.env, { token: false });
  const file = path.resolve(o.tokenFile ?? path.join(homedir(), ".clawkeep", "token"));
  const body = o.telegramUserId !== undefined ? { telegram_user_id: o.telegramUserId } : {};
  const c = json<{ challenge_id: string; challenge_secret: string; deep_link: string; expires_at: string; status: string }>(await api(env, "POST", "/v1/auth/challenge", { body }));
  if (c.status !== "resolved") process.stderr.write(`Open this link in Telegram and tap Start (until ${c.expires_at}):\n  ${c.deep_link}\nWaiting…\n`);
  const every = Math.max(1, Number(o.pollSeconds ?? 2)) * 1000;
  for (;;) {
    try {
      const s = json<{ token: string; expires_at: string; user: { id: string; name: string } }>(
        await api(env, "POST", "/v1/auth/verify", { body: { challenge_id: c.challenge_id, challenge_secret: c.challenge_secret } }),
      );
      writeTokenFile(file, s.token);
      if (o.json) process.stdout.write(`${JSON.stringify({ user: s.user, expires_at: s.expires_at, token_file: file })}\n`);
      else process.stdout.write(`signed in as ${s.user.name}; session until ${s.expires_at} in ${file} (0600)\nexport CLAWKEEP_TOKEN_FILE=${file}\n`);
      return;
    } catch (e) {
      if (!(e instanceof CliError && e.code === "challenge_pending")) throw e;
      await sleep(every);
    }
  }
}

function writeTokenFile(file: string, token: string) {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, `${token}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch {
    throw new CliError(`cannot write ${file}`, EXIT.error);
  }
}
