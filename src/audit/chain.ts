import { createHash, createHmac } from "node:crypto";
import { constantTimeEqual } from "../crypto/bytes.js";
import type { AuditEventsTable } from "../store/meta/schema.js";

// Pure functions of the audit chain (format in docs/formats.md, "audit event v1"). Each event's
// hash covers its fields and the previous event's hash; its MAC (HMAC-SHA256 under the audit
// key) covers that hash. The head row records the last (seq, hash) under its own MAC, so a
// truncated tail is detected too.

export const GENESIS = "0".repeat(64);

/** The fields an event's hash covers: its row, less the hash, MAC and key id. */
export type EventFields = Omit<AuditEventsTable, "hash" | "mac" | "key_id">;

export function eventHash(e: EventFields): string {
  const body = JSON.stringify([e.seq, e.time, e.user_id, e.actor, e.action, e.target, e.outcome, e.metadata, e.prev_hash]);
  return createHash("sha256").update(`clawkeep/audit/v1\n${body}`).digest("hex");
}

export const eventMac = (key: Uint8Array, hash: string): string => createHmac("sha256", key).update(`event|${hash}`).digest("hex");
export const headMac = (key: Uint8Array, seq: number, hash: string): string =>
  createHmac("sha256", key).update(`head|${seq}|${hash}`).digest("hex");

export type VerifyResult = { ok: true; count: number } | { ok: false; count: number; seq: number; reason: string };

export type StoredEvent = EventFields & Pick<AuditEventsTable, "hash" | "mac"> & Partial<Pick<AuditEventsTable, "key_id">>;

/**
 * The audit key(s) for a master key id. Events written before key ids existed ("") may verify
 * under any loaded key, since a rotation may be under way.
 */
export type AuditKeyLookup = (keyId: string) => Uint8Array | Uint8Array[] | undefined;

// Checks a stream of events in seq order. Returns the first problem found.
export async function verifyChain(
  keys: Uint8Array | AuditKeyLookup,
  events: AsyncIterable<StoredEvent>,
  head: { seq: number; hash: string; mac: string; key_id?: string } | undefined,
  expectNonEmpty: boolean,
): Promise<VerifyResult> {
  const keyFor: AuditKeyLookup = typeof keys === "function" ? keys : () => keys;
  let expected = 1;
  let prev = GENESIS;
  let count = 0;
  for await (const e of events) {
    const fail = (reason: string): VerifyResult => ({ ok: false, count, seq: e.seq, reason });
    if (e.seq !== expected) return fail(e.seq > expected ? `event ${expected} is missing` : "events are out of order");
    if (e.prev_hash !== prev) return fail("prev_hash does not match the previous event (deleted, inserted or reordered)");
    const h = eventHash(e);
    if (h !== e.hash) return fail("event content does not match its hash (edited)");
    const key = keyFor(e.key_id ?? "");
    if (!key) return fail(`event MAC was made by master key ${e.key_id}, which is not loaded`);
    const keys = Array.isArray(key) ? key : [key];
    if (!keys.some((k) => constantTimeEqual(eventMac(k, h), e.mac))) return fail("event MAC is invalid (forged or written without the audit key)");
    prev = h;
    expected += 1;
    count += 1;
  }
  if (!head) {
    if (count > 0 || expectNonEmpty) return { ok: false, count, seq: count, reason: "chain head is missing" };
    return { ok: true, count };
  }
  const hk = keyFor(head.key_id ?? "");
  const hks = hk === undefined ? [] : Array.isArray(hk) ? hk : [hk];
  if (!hks.some((k) => constantTimeEqual(headMac(k, head.seq, head.hash), head.mac))) return { ok: false, count, seq: head.seq, reason: "chain head MAC is invalid" };
  if (head.seq !== count || head.hash !== prev) {
    return { ok: false, count, seq: Math.min(head.seq, count + 1), reason: `chain ends at event ${count} but its head records event ${head.seq} (truncated or extended)` };
  }
  return { ok: true, count };
}
