import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";

// Signed audit checkpoints (docs/formats.md, "audit checkpoint v1"): the tree size and the
// RFC 6962 Merkle tree hash over the chain's event hashes, signed with an ed25519 key derived
// from the master key. A user stores the checkpoint somewhere the operator cannot reach; later,
// `audit verify --checkpoint` proves the log still extends it — the off-chain equivalent of
// seed 004's on-chain hash pointers. A log rolled back, truncated or rewritten below the
// checkpoint no longer produces its root.

export interface Checkpoint {
  format: "clawkeep-checkpoint";
  version: 1;
  size: number;
  root: string;
  head: string;
  time: string;
  public_key: string;
  signature: string;
}

// RFC 6962 §2.1: leaves are hashed with a 0x00 prefix, interior nodes with 0x01.
const leafHash = (h: Buffer) => createHash("sha256").update(Buffer.from([0])).update(h).digest();
const nodeHash = (l: Buffer, r: Buffer) => createHash("sha256").update(Buffer.from([1])).update(l).update(r).digest();

/**
 * Streaming Merkle tree hash: keeps one subtree root per set bit of the count, so memory is
 * O(log n). Folding the stack right to left at the end yields RFC 6962's MTH for any size.
 */
export function createMerkle() {
  const stack: { size: number; hash: Buffer }[] = [];
  let count = 0;
  return {
    add(eventHashHex: string) {
      let node = { size: 1, hash: leafHash(Buffer.from(eventHashHex, "hex")) };
      while (stack.length && stack[stack.length - 1]!.size === node.size) {
        const left = stack.pop()!;
        node = { size: left.size * 2, hash: nodeHash(left.hash, node.hash) };
      }
      stack.push(node);
      count++;
    },
    get size() {
      return count;
    },
    root(): string {
      if (stack.length === 0) return createHash("sha256").update("").digest("hex");
      let acc = stack[stack.length - 1]!.hash;
      for (let i = stack.length - 2; i >= 0; i--) acc = nodeHash(stack[i]!.hash, acc);
      return acc.toString("hex");
    },
  };
}

// PKCS#8 wrapping of a raw 32-byte ed25519 seed (RFC 8410), so node:crypto can use it.
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
const signingKey = (seed: Buffer): KeyObject => createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" });
export const checkpointPublicKey = (seed: Buffer): string =>
  createPublicKey(signingKey(seed)).export({ format: "der", type: "spki" }).subarray(-32).toString("base64");

const message = (c: Pick<Checkpoint, "size" | "root" | "head" | "time">) => Buffer.from(`clawkeep/checkpoint/v1\n${c.size}\n${c.root}\n${c.head}\n${c.time}\n`);

export function signCheckpoint(seed: Buffer, c: { size: number; root: string; head: string }): Checkpoint {
  const body = { ...c, time: new Date().toISOString() };
  return {
    format: "clawkeep-checkpoint",
    version: 1,
    ...body,
    public_key: checkpointPublicKey(seed),
    signature: sign(null, message(body), signingKey(seed)).toString("base64"),
  };
}

export function checkpointSignatureValid(c: Checkpoint): boolean {
  try {
    const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(c.public_key, "base64")]);
    const key = createPublicKey({ key: spki, format: "der", type: "spki" });
    return verify(null, message(c), key, Buffer.from(c.signature, "base64"));
  } catch {
    return false;
  }
}
