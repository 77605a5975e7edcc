import { afterAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { tempDir } from "../helpers/runtime.js";
import { runCli, startServer } from "../helpers/proc.js";

// kill -9 in the middle of a burst of puts: after a restart every acknowledged put is readable
// with its exact value, and the audit chain verifies. And in the middle of a burst of reads:
// every read that was answered is in the audit log (the event commits before the answer).

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("crash safety", () => {
  it("loses no acknowledged put across kill -9", async () => {
    let server = await startServer(dir, { CLAWKEEP_LOG_LEVEL: "warn" });
    const admin = { authorization: `Bearer ${server.adminToken()}`, "content-type": "application/json" };
    const { token } = (await (await fetch(`${server.url}/v1/users`, { method: "POST", headers: admin, body: JSON.stringify({ name: "crash" }) })).json()) as { token: string };
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" };
    for (let w = 0; w < 16; w++) {
      await fetch(`${server.url}/v1/agents`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ name: `w${w}` }) });
    }
    const acked: { ref: string; version: number; value: string }[] = [];
    let stop = false;
    let failures = 0;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const ref = `w${w}/KEY_${i % 3}`;
        const value = `${w}-${i}-${randomBytes(8).toString("hex")}`;
        try {
          const r = await fetch(`${server.url}/v1/secrets/${ref}`, { method: "PUT", headers: auth, body: value });
          if (r.status === 201) acked.push({ ref, version: ((await r.json()) as { version: number }).version, value });
        } catch {
          failures++;
          return; // the server is gone: unacknowledged, so nothing is owed
        }
      }
    };
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    while (acked.length < 300) await new Promise((r) => setTimeout(r, 5));
    await server.kill9();
    stop = true;
    await Promise.all(workers);
    expect(failures).toBeGreaterThan(0); // requests really were in flight at the kill

    server = await startServer(dir, { CLAWKEEP_LOG_LEVEL: "warn" });
    try {
      for (const a of acked) {
        const r = await fetch(`${server.url}/v1/secrets/${a.ref}?version=${a.version}`, { headers: { authorization: `Bearer ${token}`, accept: "application/octet-stream" } });
        expect({ ref: a.ref, status: r.status }).toEqual({ ref: a.ref, status: 200 });
        expect(Buffer.from(await r.arrayBuffer()).toString()).toBe(a.value);
      }
      // Every pointer that survived (acknowledged or not) names a readable blob.
      for (let w = 0; w < 16; w++) {
        for (let k = 0; k < 3; k++) {
          const vr = await fetch(`${server.url}/v1/secrets/w${w}/KEY_${k}/versions`, { headers: { authorization: `Bearer ${token}` } });
          if (vr.status === 404) continue;
          for (const v of ((await vr.json()) as { versions: { version: number }[] }).versions) {
            const r = await fetch(`${server.url}/v1/secrets/w${w}/KEY_${k}?version=${v.version}`, { headers: { authorization: `Bearer ${token}` } });
            expect(r.status).toBe(200);
          }
        }
      }
      const verify = await runCli(["audit", "verify", "--data-dir", dir]);
      expect(verify.code, verify.stderr + verify.stdout.toString()).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it("every answered read is in the audit log after kill -9", async () => {
    const rdir = tempDir();
    let server = await startServer(rdir, { CLAWKEEP_LOG_LEVEL: "warn" });
    try {
      const admin = { authorization: `Bearer ${server.adminToken()}`, "content-type": "application/json" };
      const { token } = (await (await fetch(`${server.url}/v1/users`, { method: "POST", headers: admin, body: JSON.stringify({ name: "reader" }) })).json()) as { token: string };
      const json = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      await fetch(`${server.url}/v1/agents`, { method: "POST", headers: json, body: JSON.stringify({ name: "r" }) });
      for (let k = 0; k < 16; k++) {
        for (let v = 0; v < 2; v++) {
          const put = await fetch(`${server.url}/v1/secrets/r/KEY_${k}`, { method: "PUT", headers: json, body: JSON.stringify({ value: `v${v}` }) });
          expect(put.status).toBe(201);
        }
      }
      // Each worker reads its own secret, one read at a time (versions 1 and 2 in turn), and counts
      // what was answered: at the kill it has at most one read in flight.
      const answered = new Map<string, number>();
      let stop = false;
      let failures = 0;
      const worker = async (w: number) => {
        const key = `r/KEY_${w}`;
        for (let i = 0; !stop; i++) {
          try {
            const r = await fetch(`${server.url}/v1/secrets/${key}?version=${1 + (i % 2)}`, { headers: { authorization: `Bearer ${token}` } });
            if (r.status === 200) {
              await r.arrayBuffer();
              answered.set(key, (answered.get(key) ?? 0) + 1);
            }
          } catch {
            failures++;
            return;
          }
        }
      };
      const workers = Array.from({ length: 16 }, (_, w) => worker(w));
      const total = () => [...answered.values()].reduce((a, b) => a + b, 0);
      while (total() < 400) await new Promise((r) => setTimeout(r, 5));
      await server.kill9();
      stop = true;
      await Promise.all(workers);
      expect(failures).toBeGreaterThan(0); // reads really were in flight at the kill

      // The store as the crash left it (opening it replays the WAL, as the next start would).
      const db = new Database(path.join(rdir, "clawkeep.db"));
      const logged = new Map<string, number>();
      try {
        for (const e of db.prepare("select target from audit_events where action = 'SecretRead' and outcome = 'success'").all() as { target: string }[]) {
          logged.set(e.target, (logged.get(e.target) ?? 0) + 1);
        }
      } finally {
        db.close();
      }
      // Every answered read is logged; a logged read may lack its answer only if it was the one
      // in flight when the process died.
      for (const [k, n] of answered) expect({ secret: k, answered: n, logged: logged.get(k) ?? 0 }).toEqual({ secret: k, answered: n, logged: expect.toSatisfy((l: number) => l === n || l === n + 1) });
      server = await startServer(rdir, { CLAWKEEP_LOG_LEVEL: "warn" });
      const verify = await runCli(["audit", "verify", "--data-dir", rdir]);
      expect(verify.code, verify.stderr + verify.stdout.toString()).toBe(0);
    } finally {
      await server.stop();
      rmSync(rdir, { recursive: true, force: true });
    }
  });
});
