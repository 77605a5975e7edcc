import type { Kysely } from "kysely";
import { constantTimeEqual, random, wipe } from "../crypto/bytes.js";
import { ARGON2ID_PARAMS, argon2idRoot, checkParams, passwordKeys, SALT_BYTES, type Argon2Params } from "../crypto/password-kdf.js";
import { ClawkeepError } from "../errors.js";
import { isUniqueViolation } from "../store/meta/errors.js";
import type { AuditLog } from "../audit/log.js";
import type { DB } from "../store/meta/schema.js";
import type { Caller } from "./secrets.js";

// A user's credential password for the password-derived mode (formats §17). The password itself
// is never stored or logged: the row holds the Argon2id salt and parameters and a verifier, so a
// wrong password is told apart from a damaged value. Argon2id costs 64 MiB per derivation, so
// derivations take turns (at most `concurrency` at once per node; at most `maxWaiting` queued,
// beyond which the request is turned away as `unavailable`) and a burst cannot exhaust memory.

export const MIN_PASSWORD_CHARS = 8;
const MAX_PASSWORD_BYTES = 1024;

type Kdf = (password: string, salt: Uint8Array, p: Argon2Params) => Promise<Buffer>;

/** A counting semaphore with a bounded queue. */
export function createGate(concurrency: number, maxWaiting: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(fn: () => Promise<T>): Promise<T> {
    if (active >= concurrency) {
      if (waiting.length >= maxWaiting) throw new ClawkeepError("unavailable", "too many password derivations in progress; try again shortly");
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else active++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

function checkPassword(password: string): void {
  if ([...password].length < MIN_PASSWORD_CHARS) throw new ClawkeepError("bad_request", `the credential password must have at least ${MIN_PASSWORD_CHARS} characters`);
  if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) throw new ClawkeepError("bad_request", `the credential password must be at most ${MAX_PASSWORD_BYTES} bytes`);
}

export function createCredentialPasswords(deps: {
  db: Kysely<DB>;
  durable: () => Promise<void>;
  audit: AuditLog;
  concurrency: number;
  maxWaiting?: number;
  /** Argon2id; replaceable only so a test can observe the gate. */
  kdf?: Kdf;
}) {
  const { db, audit } = deps;
  const kdf = deps.kdf ?? argon2idRoot;
  const gate = createGate(deps.concurrency, deps.maxWaiting ?? 256);

  const row = (userId: string) => db.selectFrom("credential_passwords").selectAll().where("user_id", "=", userId).executeTakeFirst();

  async function status(c: Caller): Promise<{ set: boolean; params: Argon2Params | null }> {
    const r = await row(c.userId);
    return { set: Boolean(r), params: r ? { memoryKib: r.memory_kib, iterations: r.iterations, parallelism: r.parallelism } : null };
  }

  /** Sets the password once; changing it would strand every value sealed under the old one. */
  async function set(c: Caller, password: string): Promise<Argon2Params> {
    checkPassword(password);
    if (await row(c.userId)) throw new ClawkeepError("conflict", "a credential password is already set");
    const salt = random(SALT_BYTES);
    const p = ARGON2ID_PARAMS;
    const root = await gate(() => kdf(password, salt, p));
    const { key, verifier } = passwordKeys(root, c.userId);
    wipe(root);
    wipe(key);
    try {
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto("credential_passwords")
          .values({ user_id: c.userId, salt: salt.toString("base64"), memory_kib: p.memoryKib, iterations: p.iterations, parallelism: p.parallelism, verifier, created_at: new Date().toISOString() })
          .execute();
        await audit.append(trx, { userId: c.userId, actor: c.actor, action: "CredentialPasswordSet", target: "credential-password", outcome: "success", metadata: { kdf: "argon2id", m: p.memoryKib, t: p.iterations, p: p.parallelism } });
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new ClawkeepError("conflict", "a credential password is already set");
      throw e;
    }
    await deps.durable();
    return p;
  }

  /**
   * The sealing key for `c`'s password-mode values, after checking the password against the
   * verifier. A wrong password is audited and answered with `credential_password_invalid`.
   */
  async function unlock(c: Caller, password: string, target: string): Promise<Buffer> {
    const r = await row(c.userId);
    if (!r) throw new ClawkeepError("credential_password_not_set", "no credential password is set: set one first (clawkeep credential-password set)");
    const p = { memoryKib: r.memory_kib, iterations: r.iterations, parallelism: r.parallelism };
    if (!checkParams(p)) throw new ClawkeepError("integrity_error", "stored data failed its integrity check");
    if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES || password.length === 0) return reject(c, target, "malformed");
    const root = await gate(() => kdf(password, Buffer.from(r.salt, "base64"), p));
    const { key, verifier } = passwordKeys(root, c.userId);
    wipe(root);
    if (!constantTimeEqual(verifier, r.verifier)) {
      wipe(key);
      return reject(c, target, "wrong_password");
    }
    return key;
  }

  async function reject(c: Caller, target: string, reason: string): Promise<never> {
    await audit.record({ userId: c.userId, actor: c.actor, action: "CredentialPasswordRejected", target, outcome: "failure", metadata: { reason } });
    throw new ClawkeepError("credential_password_invalid", "the credential password is wrong");
  }

  return { status, set, unlock };
}

export type CredentialPasswords = ReturnType<typeof createCredentialPasswords>;
