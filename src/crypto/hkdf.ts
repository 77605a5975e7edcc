import { hkdfSync } from "node:crypto";

// Purpose keys derived from the master key with HKDF-SHA256 (RFC 5869). Each purpose has its own
// versioned info string so keys for different jobs are independent and can be re-derived.
export const PURPOSES = {
  kek: "clawkeep/kek/v1",
  audit: "clawkeep/audit/v1",
  session: "clawkeep/session/v1",
  seal: "clawkeep/seal/v1",
  keyId: "clawkeep/key-id/v1",
  checkpoint: "clawkeep/checkpoint/v1",
  agentSecret: "clawkeep/agent-secret/v1",
  token: "clawkeep/token/v1",
  row: "clawkeep/row-mac/v1",
  ticket: "clawkeep/ticket/v1",
} as const;

export type Purpose = keyof typeof PURPOSES;

export function derivePurposeKey(master: Uint8Array, purpose: Purpose, length = 32): Buffer {
  if (master.length !== 32) throw new RangeError("master key must be 32 bytes");
  // Empty salt: the master key is already uniformly random (RFC 5869 §3.1).
  return Buffer.from(hkdfSync("sha256", master, new Uint8Array(0), PURPOSES[purpose], length));
}
