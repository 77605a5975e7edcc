import { describe, expect, it } from "vitest";
import { expiryTime, grantLine, reconcileAuthorizedKeys, type Grant } from "../../src/agents/ssh-keys.js";

// authorized_keys reconciliation: grant, expiry and revoke each change exactly Clawkeep's own
// lines; other keys, comments, blank lines and CRLF endings stay byte for byte. Owned lines carry
// expiry-time, restrict,pty and the recording wrapper as their forced command.

const KEY = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl`;
const W = "/root/.ssh/clawkeep-support/wrapper";
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
const line = (g: Grant) => grantLine(g, W);

describe("reconcileAuthorizedKeys", () => {
  it("grant: appends one line with restrict,pty, expiry-time, the wrapper and the marker; the rest is unchanged", () => {
    const r = reconcileAuthorizedKeys(`${OTHERS}\n`, [g1], W, now);
    expect(r.added).toEqual([g1.id]);
    expect(r.text).toBe(`${OTHERS}\n${line(g1)}\n`);
    expect(line(g1)).toBe(`restrict,pty,expiry-time="${expiryTime(g1.expiresAt)}",command="${W} ${g1.id}" ${KEY} clawkeep-support:${g1.id}`);
    // Idempotent: a second run changes nothing.
    expect(reconcileAuthorizedKeys(r.text, [g1], W, now)).toEqual({ text: r.text, added: [], removed: [] });
  });

  it("revoke (grant gone from the server) removes only that line", () => {
    const withBoth = reconcileAuthorizedKeys(`${OTHERS}\n`, [g1, g2], W, now).text;
    const r = reconcileAuthorizedKeys(withBoth, [g2], W, now);
    expect(r.removed).toEqual([g1.id]);
    expect(r.text).toBe(`${OTHERS}\n${line(g2)}\n`);
    expect(reconcileAuthorizedKeys(r.text, [], W, now).text).toBe(`${OTHERS}\n`);
  });

  it("expiry removes the line even when the server cannot be asked; unexpired lines stay", () => {
    const text = reconcileAuthorizedKeys(`${OTHERS}\n`, [g1, g2], W, now).text;
    const later = new Date("2026-03-01T14:00:00Z");
    expect(reconcileAuthorizedKeys(text, null, W, later).text).toBe(`${OTHERS}\n${line(g1)}\n`);
    expect(reconcileAuthorizedKeys(text, [g1, g2], W, later).text).toBe(`${OTHERS}\n${line(g1)}\n`);
    expect(reconcileAuthorizedKeys(text, null, W, now).text).toBe(text);
  });

  it("an owned line from before the wrapper (no restrict, no command) is rewritten online and removed offline", () => {
    const old = `expiry-time="${expiryTime(g1.expiresAt)}" ${KEY} clawkeep-support:${g1.id}`;
    const online = reconcileAuthorizedKeys(`${OTHERS}\n${old}\n`, [g1], W, now);
    expect(online).toEqual({ text: `${OTHERS}\n${line(g1)}\n`, added: [g1.id], removed: [g1.id] });
    // Offline nobody can confirm the grant, so a key whose commands would go unrecorded goes.
    expect(reconcileAuthorizedKeys(`${OTHERS}\n${old}\n`, null, W, now)).toEqual({ text: `${OTHERS}\n`, added: [], removed: [g1.id] });
  });

  it("a line naming another wrapper path, or with options added, is replaced (online) or dropped (offline)", () => {
    const moved = line(g1).replace(W, "/tmp/evil");
    expect(reconcileAuthorizedKeys(`${moved}\n`, [g1], W, now).text).toBe(`${line(g1)}\n`);
    expect(reconcileAuthorizedKeys(`${moved}\n`, null, W, now).text).toBe("");
    const forwarding = line(g1).replace("restrict,pty,", "restrict,pty,port-forwarding,");
    expect(reconcileAuthorizedKeys(`${forwarding}\n`, [g1], W, now).text).toBe(`${line(g1)}\n`);
    expect(reconcileAuthorizedKeys(`${forwarding}\n`, null, W, now).text).toBe("");
    // A current line survives offline; a duplicate of it does not.
    expect(reconcileAuthorizedKeys(`${line(g1)}\n${line(g1)}\n`, null, W, now)).toEqual({ text: `${line(g1)}\n`, added: [], removed: [g1.id] });
  });

  it("a file without a trailing newline, an empty file, and a tampered owned line", () => {
    expect(reconcileAuthorizedKeys(OTHERS, [], W, now).text).toBe(OTHERS);
    expect(reconcileAuthorizedKeys("", [g1], W, now).text).toBe(`${line(g1)}\n`);
    const tampered = `${OTHERS}\n${line(g1).replace(`command="${W} `, 'command="sh #')}\n`;
    const r = reconcileAuthorizedKeys(tampered, [g1], W, now);
    expect(r.text).toBe(`${OTHERS}\n${line(g1)}\n`);
  });

  it("the wrapper path cannot carry quoting or shell syntax into command=", () => {
    for (const bad of ["relative/wrapper", '/tmp/a"b', "/tmp/a b", "/tmp/$(id)", "/tmp/a;b", "/tmp/a'b", "/tmp/../etc/x", "/tmp/a\\b"]) {
      expect(() => reconcileAuthorizedKeys("", [g1], bad, now), bad).toThrow(/wrapper path/);
    }
    expect(() => grantLine({ ...g1, id: 'grt_1" x' }, W)).toThrow(/grant id/);
  });

  it("expiry-time is the grant's expiry in local time, rounded down to the minute", () => {
    const d = new Date("2026-03-02T12:00:30Z");
    const local = `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, "0")}${String(d.getDate()).padStart(2, "0")}${String(d.getHours()).padStart(2, "0")}${String(d.getMinutes()).padStart(2, "0")}`;
    expect(expiryTime(g1.expiresAt)).toBe(local);
  });
});
