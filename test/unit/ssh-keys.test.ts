import { describe, expect, it } from "vitest";
import { expiryTime, grantLine, reconcileAuthorizedKeys, type Grant } from "../../src/agents/ssh-keys.js";

// authorized_keys reconciliation: grant, expiry and revoke each change exactly Clawkeep's own
// lines; other keys, comments, blank lines and CRLF endings stay byte for byte.

const KEY = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl`;
const OTHERS = [
  "# my own keys, do not touch",
  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 alice@laptop",
  "",
  'from="10.0.0.0/8",no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA bob@ci   ',
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB clawkeep-support-lookalike\r",
].join("\n");
const now = new Date("2026-03-01T12:00:00Z");
const g1: Grant = { id: "grt_00000000000000000001", publicKey: KEY, expiresAt: "2026-03-02T12:00:30Z" };
const g2: Grant = { id: "grt_00000000000000000002", publicKey: KEY, expiresAt: "2026-03-01T13:00:00Z" };

describe("reconcileAuthorizedKeys", () => {
  it("grant: appends one line with expiry-time and the marker; the rest is unchanged", () => {
    const r = reconcileAuthorizedKeys(`${OTHERS}\n`, [g1], now);
    expect(r.added).toEqual([g1.id]);
    expect(r.text).toBe(`${OTHERS}\n${grantLine(g1)}\n`);
    expect(grantLine(g1)).toMatch(/^expiry-time="\d{12}" ssh-ed25519 AAAA\S+ clawkeep-support:grt_0+1$/);
    // Idempotent: a second run changes nothing.
    expect(reconcileAuthorizedKeys(r.text, [g1], now)).toEqual({ text: r.text, added: [], removed: [] });
  });

  it("revoke (grant gone from the server) removes only that line", () => {
    const withBoth = reconcileAuthorizedKeys(`${OTHERS}\n`, [g1, g2], now).text;
    const r = reconcileAuthorizedKeys(withBoth, [g2], now);
    expect(r.removed).toEqual([g1.id]);
    expect(r.text).toBe(`${OTHERS}\n${grantLine(g2)}\n`);
    expect(reconcileAuthorizedKeys(r.text, [], now).text).toBe(`${OTHERS}\n`);
  });

  it("expiry removes the line even when the server cannot be asked; unexpired lines stay", () => {
    const text = reconcileAuthorizedKeys(`${OTHERS}\n`, [g1, g2], now).text;
    const later = new Date("2026-03-01T14:00:00Z");
    expect(reconcileAuthorizedKeys(text, null, later).text).toBe(`${OTHERS}\n${grantLine(g1)}\n`);
    expect(reconcileAuthorizedKeys(text, [g1, g2], later).text).toBe(`${OTHERS}\n${grantLine(g1)}\n`);
    expect(reconcileAuthorizedKeys(text, null, now).text).toBe(text);
  });

  it("a file without a trailing newline, an empty file, and a tampered owned line", () => {
    expect(reconcileAuthorizedKeys(OTHERS, [], now).text).toBe(OTHERS);
    expect(reconcileAuthorizedKeys("", [g1], now).text).toBe(`${grantLine(g1)}\n`);
    const tampered = `${OTHERS}\n${grantLine(g1).replace("expiry-time=\"", 'command="sh",expiry-time="')}\n`;
    const r = reconcileAuthorizedKeys(tampered, [g1], now);
    expect(r.text).toBe(`${OTHERS}\n${grantLine(g1)}\n`);
  });

  it("expiry-time is the grant's expiry in local time, rounded down to the minute", () => {
    const d = new Date("2026-03-02T12:00:30Z");
    const local = `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, "0")}${String(d.getDate()).padStart(2, "0")}${String(d.getHours()).padStart(2, "0")}${String(d.getMinutes()).padStart(2, "0")}`;
    expect(expiryTime(g1.expiresAt)).toBe(local);
  });
});
