import type { AuditRecord } from "./log.js";

// The audit log as a SIEM reads it (the seed's "SIEM export for audit events" TODO): one JSON
// object per line in the Elastic Common Schema's field names, which Elastic, OpenSearch, Splunk
// and Loki all map without a custom parser. `clawkeep.hash` keeps each event checkable against
// the chain (`clawkeep audit verify`); `event.sequence` is the resume cursor.

export const SIEM_FORMAT = "clawkeep.audit.ecs/v1";

export function toEcs(e: AuditRecord): Record<string, unknown> {
  return {
    "@timestamp": e.time,
    ecs: { version: "8.11.0" },
    event: {
      kind: "event",
      dataset: "clawkeep.audit",
      module: "clawkeep",
      action: e.action,
      outcome: e.outcome,
      sequence: e.seq,
    },
    user: e.user_id ? { id: e.user_id } : undefined,
    clawkeep: { format: SIEM_FORMAT, actor: e.actor, target: e.target, metadata: e.metadata, hash: e.hash },
  };
}

/** One line per event, key order fixed, no trailing spaces: what a log shipper tails. */
export const ecsLine = (e: AuditRecord): string => `${JSON.stringify(toEcs(e))}\n`;
