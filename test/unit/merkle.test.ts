import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { createMerkle, checkpointSignatureValid, signCheckpoint } from "../../src/audit/checkpoint.js";

// RFC 6962 §2.1, written the obvious recursive way, as the reference for the streaming version.
const sha = (...b: Buffer[]) => createHash("sha256").update(Buffer.concat(b)).digest();
function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return sha(Buffer.from([0]), leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

describe("Merkle tree hash", () => {
  it("matches RFC 6962 for every size from 0 to 70", () => {
    const leaves = Array.from({ length: 70 }, (_, i) => sha(Buffer.from(`event ${i}`)));
    for (let n = 0; n <= 70; n++) {
      const m = createMerkle();
      for (const l of leaves.slice(0, n)) m.add(l.toString("hex"));
      expect(m.root()).toBe(mth(leaves.slice(0, n)).toString("hex"));
    }
  });

  it("checkpoint signatures verify, and break on any change", () => {
    const cp = signCheckpoint(Buffer.alloc(32, 9), { size: 3, root: "ab".repeat(32), head: "cd".repeat(32) });
    expect(checkpointSignatureValid(cp)).toBe(true);
    for (const change of [{ size: 4 }, { root: "ac".repeat(32) }, { head: "ce".repeat(32) }, { time: "2000-01-01T00:00:00.000Z" }]) {
      expect(checkpointSignatureValid({ ...cp, ...change })).toBe(false);
    }
  });
});

describe("checkpoint vector (test/vectors/audit-checkpoint.json)", () => {
  it("verifies, and its key and root are what the code derives", async () => {
    const { readFileSync } = await import("node:fs");
    const { derivePurposeKey } = await import("../../src/crypto/hkdf.js");
    const { checkpointPublicKey } = await import("../../src/audit/checkpoint.js");
    const v = JSON.parse(readFileSync(new URL("../vectors/audit-checkpoint.json", import.meta.url), "utf8"));
    expect(checkpointSignatureValid(v.checkpoint)).toBe(true);
    expect(checkpointPublicKey(derivePurposeKey(Buffer.from(v.master_key_hex, "hex"), "checkpoint"))).toBe(v.checkpoint.public_key);
    const m = createMerkle();
    for (const h of v.event_hashes) m.add(h);
    expect(m.root()).toBe(v.checkpoint.root);
  });
});
