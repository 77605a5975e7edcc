import { afterAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { tempDir } from "../helpers/runtime.js";
import { runCli, startServer } from "../helpers/proc.js";

// kill -9 in the middle of a burst of puts: after a restart every acknowledged put is readable
// with its exact value, and the audit chain verifies.

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
});
