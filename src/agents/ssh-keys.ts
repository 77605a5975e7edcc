// The authorized_keys side of support access, pure (no I/O) so it is testable line by line.
// Clawkeep owns exactly the lines whose comment is its marker `clawkeep-support:<grant id>`; every
// other line (keys, comments, blank lines, odd spacing, CRLF) is kept byte for byte. Each owned
// line carries OpenSSH's `expiry-time="YYYYMMDDHHMM"` (sshd(8), AUTHORIZED_KEYS FILE FORMAT,
// interpreted in the system time zone), so sshd stops accepting the key at expiry even if
// reconcile never runs again.

export const SSH_PUBLIC_KEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) ([A-Za-z0-9+/]{16,8192}={0,3})$/;
const MARKER_RE = / clawkeep-support:(grt_[0-9a-f]{20})\r?$/;
const EXPIRY_RE = /^expiry-time="(\d{12})" /;

export interface Grant {
  id: string;
  publicKey: string;
  expiresAt: string;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Local-time YYYYMMDDHHMM, rounded down: the key never outlives its grant. */
export function expiryTime(iso: string): string {
  const d = new Date(Date.parse(iso));
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}${pad(d.getHours())}${pad(d.getMinutes())}`;
}

export const grantLine = (g: Grant): string => `expiry-time="${expiryTime(g.expiresAt)}" ${g.publicKey} clawkeep-support:${g.id}`;

/**
 * The new file text: owned lines for active, unexpired grants (one each, up to date), owned lines
 * for anything else removed, all other lines untouched. `grants: null` means the server could
 * not be asked: then only owned lines already past their expiry-time are removed.
 */
export function reconcileAuthorizedKeys(text: string, grants: Grant[] | null, now = new Date()): { text: string; added: string[]; removed: string[] } {
  const nowStamp = expiryTime(now.toISOString());
  const hadTrailingNewline = text === "" || text.endsWith("\n");
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const active = new Map((grants ?? []).filter((g) => Date.parse(g.expiresAt) > now.getTime() && SSH_PUBLIC_KEY_RE.test(g.publicKey)).map((g) => [g.id, g]));
  const kept: string[] = [];
  const present = new Set<string>();
  const removed: string[] = [];
  for (const line of lines) {
    const m = MARKER_RE.exec(line);
    if (!m) {
      kept.push(line);
      continue;
    }
    const id = m[1]!;
    const expired = (EXPIRY_RE.exec(line)?.[1] ?? "0") <= nowStamp;
    const g = active.get(id);
    const keep = grants === null ? !expired : g !== undefined && line.replace(/\r$/, "") === grantLine(g) && !present.has(id);
    if (keep) {
      kept.push(line);
      present.add(id);
    } else removed.push(id);
  }
  const added: string[] = [];
  for (const g of active.values()) {
    if (present.has(g.id)) continue;
    kept.push(grantLine(g));
    added.push(g.id);
  }
  const body = kept.join("\n");
  return { text: body === "" ? "" : hadTrailingNewline || added.length ? `${body}\n` : body, added, removed };
}
