import type { Kysely } from "kysely";
import { constantTimeEqual, random, sha256Hex, wipe } from "../crypto/bytes.js";
import { open, seal, EnvelopeError } from "../crypto/envelope.js";
import { ClawkeepError } from "../errors.js";
import type { Keyring } from "../keys/keyring.js";
import type { BlobStore } from "../store/blobs/port.js";
import type { DB } from "../store/meta/schema.js";
import type { CiphertextCache } from "./ciphertext-cache.js";

// Sealing a value into a blob and opening one back, bound to its pointer. Shared by reads,
// writes and re-encryption so every path checks the same things in the same order: the blob
// exists, its SHA-256 matches the pointer, and the AES-GCM envelope opens under the pointer's AAD.

export interface Pointer {
  user_id: string;
  agent: string;
  name: string;
  version: number;
  epoch: number;
  blob_id: string;
  sha256: string;
}

export const blobKey = (user: string, agent: string, epoch: number, blobId: string) => `${user}/${agent}/${epoch}/${blobId}.enc`;

export class IntegrityFailure extends Error {
  constructor(readonly reason: string) {
    super(`integrity check failed: ${reason}`);
  }
}

export async function openPointer(deps: { db: Kysely<DB>; blobs: BlobStore; keyring: Keyring; ciphertexts?: CiphertextCache }, p: Pointer): Promise<Buffer> {
  const key = blobKey(p.user_id, p.agent, p.epoch, p.blob_id);
  let ct = deps.ciphertexts?.get(key, p.sha256);
  if (!ct) {
    const read = await deps.blobs.get(key);
    if (!read) throw new IntegrityFailure("blob_missing");
    if (!constantTimeEqual(sha256Hex(read), p.sha256)) throw new IntegrityFailure("hash_mismatch");
    deps.ciphertexts?.set(key, p.sha256, read);
    ct = read;
  }
  let dek: Buffer;
  try {
    dek = await deps.keyring.dek(deps.db, p.user_id, p.epoch);
  } catch (e) {
    if (e instanceof ClawkeepError && e.code === "integrity_error") throw new IntegrityFailure("dek_unavailable");
    throw e;
  }
  try {
    return open(dek, ct, { kind: "secret", user: p.user_id, agent: p.agent, name: p.name, version: p.version, epoch: p.epoch, blobId: p.blob_id });
  } catch (e) {
    if (e instanceof EnvelopeError) throw new IntegrityFailure(`envelope_${e.reason}`);
    throw e;
  } finally {
    wipe(dek);
  }
}

/** Seals `value` for (user, agent, name, version) under `epoch` into a new blob; returns its pointer fields. */
export async function sealToBlob(
  deps: { db: Kysely<DB>; blobs: BlobStore; keyring: Keyring },
  at: { user: string; agent: string; name: string; version: number; epoch: number },
  value: Uint8Array,
): Promise<{ blobId: string; sha256: string; key: string }> {
  const blobId = random(16).toString("hex");
  const dek = await deps.keyring.dek(deps.db, at.user, at.epoch);
  let ct: Buffer;
  try {
    ct = seal(dek, value, { kind: "secret", user: at.user, agent: at.agent, name: at.name, version: at.version, epoch: at.epoch, blobId });
  } finally {
    wipe(dek);
  }
  const key = blobKey(at.user, at.agent, at.epoch, blobId);
  await deps.blobs.put(key, ct);
  return { blobId, sha256: sha256Hex(ct), key };
}
