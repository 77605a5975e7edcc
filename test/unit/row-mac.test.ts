import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { rowMacs } from "../../src/keys/row-mac.js";

// The one row-MAC mechanism (formats §16): a row verifies under any loaded key; a rotation
// re-MACs what an older key verifies under the primary, and never a row no key verifies
// (re-MACing a forged row would launder it).

type Row = { id: string; admin: number; mac: string };
const mac = (k: Buffer, r: Omit<Row, "mac">) => createHmac("sha256", k).update(`${r.id}\n${r.admin}`).digest("hex");

describe("row MACs", () => {
  const older = randomBytes(32);
  const primary = randomBytes(32);
  const m = rowMacs<Row>([primary, older], mac, "test");

  it("signs under the primary and verifies under any loaded key; an edited row fails", () => {
    const r = { id: "usr_1", admin: 0, mac: m.sign({ id: "usr_1", admin: 0 }) };
    expect(m.valid(r)).toBe(true);
    expect(m.valid({ id: "usr_2", admin: 0, mac: mac(older, { id: "usr_2", admin: 0 }) })).toBe(true);
    expect(m.valid({ ...r, admin: 1 })).toBe(false);
  });

  it("re-MACs rows an older key verifies, skips current ones and never re-MACs a forged row", async () => {
    const current = { id: "usr_1", admin: 0, mac: mac(primary, { id: "usr_1", admin: 0 }) };
    const old = { id: "usr_2", admin: 0, mac: mac(older, { id: "usr_2", admin: 0 }) };
    const forged = { id: "usr_3", admin: 1, mac: mac(randomBytes(32), { id: "usr_3", admin: 1 }) };
    const swapped: [string, string][] = [];
    const n = await m.remac([current, old, forged], async (r, next) => (swapped.push([r.id, next]), 1));
    expect(n).toBe(1);
    expect(swapped).toEqual([["usr_2", mac(primary, old)]]);
  });

  it("counts only the rows the compare-and-swap changed", async () => {
    const old = { id: "usr_2", admin: 0, mac: mac(older, { id: "usr_2", admin: 0 }) };
    expect(await m.remac([old], async () => 0n)).toBe(0);
  });

  it("refuses to start without a key", () => {
    expect(() => rowMacs<Row>([], mac, "test")).toThrow(/needs a row key/);
  });
});
