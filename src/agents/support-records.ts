// Support-session records v1 (docs/formats.md §24): what the wrapper writes, one JSON object per
// file in the agent's spool, and what the agent sends in `POST /v1/agent/support/events`,
// unchanged. Pure, and without zod, because the agent CLI loads it on every reconcile pass.

export const RECORD_VERSION = 1;
/** Longer commands are recorded (cut to this) but never run, so no command is ever half-logged. */
export const MAX_COMMAND_BYTES = 65_536;
export const MAX_BATCH_RECORDS = 200;
/** Body limit of the events route; the agent packs its batches well under it. */
export const BATCH_BODY_LIMIT = 1024 * 1024;
export const BATCH_TARGET_BYTES = 768 * 1024;

const ID_RE = /^[0-9a-f]{32}$/;
const GRANT_RE = /^grt_[0-9a-f]{20}$/;
const HEX_RE = /^(?:[0-9a-f]{2})*$/;
const FROM_RE = /^[0-9A-Fa-f.:]{0,45}$/;

interface Base {
  v: 1;
  id: string;
  grant: string;
  time: number;
}
export interface CommandRecord extends Base {
  kind: "command";
  cmd: string;
  trunc: boolean;
  tty: boolean;
  from: string;
}
export interface SessionStartRecord extends Base {
  kind: "session_start";
  tty: boolean;
  from: string;
}
export interface SessionEndRecord extends Base {
  kind: "session_end";
  ref: string;
  status: number;
}
export type SupportRecord = CommandRecord | SessionStartRecord | SessionEndRecord;

const KEYS: Record<SupportRecord["kind"], string[]> = {
  command: ["v", "id", "grant", "kind", "time", "cmd", "trunc", "tty", "from"],
  session_start: ["v", "id", "grant", "kind", "time", "tty", "from"],
  session_end: ["v", "id", "grant", "kind", "time", "ref", "status"],
};

const str = (o: Record<string, unknown>, k: string, re: RegExp) => typeof o[k] === "string" && re.test(o[k]);

/**
 * The record, or why it is not one. Reasons name fields, never their contents: a record's
 * command is the operator's typing and may hold a secret.
 */
export function parseRecord(x: unknown): SupportRecord | { error: string } {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return { error: "not an object" };
  const o = x as Record<string, unknown>;
  if (o.v !== RECORD_VERSION) return { error: "unsupported version" };
  const kind = o.kind;
  if (kind !== "command" && kind !== "session_start" && kind !== "session_end") return { error: "unknown kind" };
  const keys = Object.keys(o);
  if (keys.length !== KEYS[kind].length || !KEYS[kind].every((k) => Object.hasOwn(o, k))) return { error: `fields must be exactly ${KEYS[kind].join(",")}` };
  if (!str(o, "id", ID_RE)) return { error: "id must be 32 lowercase hex" };
  if (!str(o, "grant", GRANT_RE)) return { error: "grant must be a grant id" };
  if (!Number.isSafeInteger(o.time) || (o.time as number) < 0) return { error: "time must be whole unix seconds" };
  if (kind === "session_end") {
    if (!str(o, "ref", ID_RE)) return { error: "ref must be 32 lowercase hex" };
    if (!Number.isSafeInteger(o.status) || (o.status as number) < 0 || (o.status as number) > 255) return { error: "status must be 0..255" };
  } else {
    if (typeof o.tty !== "boolean") return { error: "tty must be a boolean" };
    if (!str(o, "from", FROM_RE)) return { error: "from must be an IP address or empty" };
  }
  if (kind === "command") {
    if (!str(o, "cmd", HEX_RE) || (o.cmd as string).length > 2 * MAX_COMMAND_BYTES) return { error: `cmd must be lowercase hex of at most ${MAX_COMMAND_BYTES} bytes` };
    if (typeof o.trunc !== "boolean") return { error: "trunc must be a boolean" };
  }
  return o as unknown as SupportRecord;
}

export const isRecord = (r: SupportRecord | { error: string }): r is SupportRecord => !("error" in r);

/** The command's exact bytes as text: UTF-8 when they are UTF-8, else lossy text plus the bytes in hex. */
export function commandText(hex: string): { command: string; command_hex?: string } {
  const bytes = Buffer.from(hex, "hex");
  try {
    return { command: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    return { command: new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes), command_hex: hex };
  }
}
