import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const sha256 = (data: Uint8Array): Buffer => createHash("sha256").update(data).digest();
export const sha256Hex = (data: Uint8Array | string): string => createHash("sha256").update(data).digest("hex");

export const random = (n: number): Buffer => randomBytes(n);

// Constant-time equality that does not leak length through an early return: both sides are
// hashed first, so timingSafeEqual always sees equal-length inputs (equal digests ⇔ equal inputs
// up to a SHA-256 collision).
export function constantTimeEqual(a: Uint8Array | string, b: Uint8Array | string): boolean {
  const ha = sha256(typeof a === "string" ? Buffer.from(a, "utf8") : a);
  const hb = sha256(typeof b === "string" ? Buffer.from(b, "utf8") : b);
  return timingSafeEqual(ha, hb);
}

// Best-effort wipe of key material we own. JavaScript cannot guarantee no other copy exists,
// but this keeps evicted keys from lingering in buffers we still reference.
export const wipe = (buf: Uint8Array): void => {
  buf.fill(0);
};
