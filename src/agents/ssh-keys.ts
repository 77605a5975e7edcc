// The authorized_keys side of support access, pure (no I/O) so it is testable line by line.
// Clawkeep owns exactly the lines whose comment is its marker `clawkeep-support:<grant id>`; every
// other line (keys, comments, blank lines, odd spacing, CRLF) is kept byte for byte. Each owned
// line carries OpenSSH's `expiry-time="YYYYMMDDHHMM"` (sshd(8), AUTHORIZED_KEYS FILE FORMAT,
// interpreted in the system time zone), so sshd stops accepting the key at expiry even if
// reconcile never runs again; `restrict,pty` (no forwarding of any kind, no ~/.ssh/rc, but a
// terminal for interactive help); and `command=` naming the recording wrapper, so sshd runs
// everything the key asks for through it and the user gets the log the seed promises.

export const SSH_PUBLIC_KEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) ([A-Za-z0-9+/]{16,8192}={0,3})$/;
export const GRANT_ID_RE = /^grt_[0-9a-f]{20}$/;
// The wrapper path goes inside command="…", which sshd hands to the login shell: only characters
// that need no quoting in either place, so no path can add shell syntax or end the option early.
export const WRAPPER_PATH_RE = /^\/[A-Za-z0-9._@+/-]{1,1023}$/;
const MARKER_RE = / clawkeep-support:(grt_[0-9a-f]{20})\r?$/;
const EXPIRY_RE = /(?:^|,)expiry-time="(\d{12})"[, ]/;
const CURRENT_RE = /^restrict,pty,expiry-time="(\d{12})",command="([^"\\]*)" (\S+ \S+) clawkeep-support:(grt_[0-9a-f]{20})$/;

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

export function checkWrapperPath(wrapper: string): string {
  if (!WRAPPER_PATH_RE.test(wrapper) || wrapper.split("/").includes("..")) throw new Error("the support wrapper path must be absolute and made of [A-Za-z0-9._@+/-] only");
  return wrapper;
}

const line = (stamp: string, wrapper: string, id: string, publicKey: string) => `restrict,pty,expiry-time="${stamp}",command="${wrapper} ${id}" ${publicKey} clawkeep-support:${id}`;

export const grantLine = (g: Grant, wrapper: string): string => {
  if (!GRANT_ID_RE.test(g.id)) throw new Error("not a grant id");
  return line(expiryTime(g.expiresAt), checkWrapperPath(wrapper), g.id, g.publicKey);
};

/**
 * The new file text: owned lines for active, unexpired grants (one each, up to date), owned lines
 * for anything else removed, all other lines untouched. `grants: null` means the server could
 * not be asked: then owned lines past their expiry-time go, and so do lines not in the current
 * form (older ones without the recording wrapper): a key whose commands would not be recorded
 * is not kept on the strength of a grant nobody could confirm.
 */
export function reconcileAuthorizedKeys(text: string, grants: Grant[] | null, wrapper: string, now = new Date()): { text: string; added: string[]; removed: string[] } {
  checkWrapperPath(wrapper);
  const nowStamp = expiryTime(now.toISOString());
  const hadTrailingNewline = text === "" || text.endsWith("\n");
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const active = new Map((grants ?? []).filter((g) => Date.parse(g.expiresAt) > now.getTime() && SSH_PUBLIC_KEY_RE.test(g.publicKey) && GRANT_ID_RE.test(g.id)).map((g) => [g.id, g]));
  const kept: string[] = [];
  const present = new Set<string>();
  const removed: string[] = [];
  for (const l of lines) {
    const m = MARKER_RE.exec(l);
    if (!m) {
      kept.push(l);
      continue;
    }
    const id = m[1]!;
    const bare = l.replace(/\r$/, "");
    const expired = (EXPIRY_RE.exec(bare)?.[1] ?? "0") <= nowStamp;
    const g = active.get(id);
    const keep = present.has(id) ? false : grants === null ? !expired && isCurrent(bare, wrapper, id) : g !== undefined && bare === grantLine(g, wrapper);
    if (keep) {
      kept.push(l);
      present.add(id);
    } else removed.push(id);
  }
  const added: string[] = [];
  for (const g of active.values()) {
    if (present.has(g.id)) continue;
    kept.push(grantLine(g, wrapper));
    added.push(g.id);
  }
  const body = kept.join("\n");
  return { text: body === "" ? "" : hadTrailingNewline || added.length ? `${body}\n` : body, added, removed };
}

function isCurrent(bare: string, wrapper: string, id: string): boolean {
  const m = CURRENT_RE.exec(bare);
  return m !== null && m[4] === id && m[2] === `${wrapper} ${id}` && SSH_PUBLIC_KEY_RE.test(m[3]!) && bare === line(m[1]!, wrapper, id, m[3]!);
}
