import { constantTimeEqual } from "../crypto/bytes.js";

// Row MACs (formats §16), one mechanism for every MAC'd table: a row is believed if any loaded
// row key (the primary first, then earlier master keys') verifies it, new rows are MAC'd under
// the primary, and a master-key rotation re-MACs what an earlier key verifies. A row no loaded
// key verifies was written by someone without the master key: it is never re-MAC'd (that
// would launder it).

export function rowMacs<R extends { mac: string }>(keys: Buffer[], mac: (key: Buffer, r: Omit<R, "mac">) => string, what: string) {
  const primary = keys[0];
  if (!primary) throw new Error(`${what} needs a row key`);
  const valid = (r: R) => keys.some((k) => constantTimeEqual(r.mac, mac(k, r)));
  return {
    sign: (r: Omit<R, "mac">) => mac(primary, r),
    valid,
    /** Re-MACs `rows` under the primary key; `swap` writes the new MAC only if the row still has the old one (compare-and-swap) and says how many rows it changed. */
    async remac(rows: R[], swap: (r: R, next: string) => Promise<number | bigint>): Promise<number> {
      let n = 0;
      for (const r of rows) {
        const next = mac(primary, r);
        if (r.mac === next || !valid(r)) continue;
        n += Number(await swap(r, next));
      }
      return n;
    },
  };
}
