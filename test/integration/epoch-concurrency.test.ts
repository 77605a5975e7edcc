import { afterEach, describe, expect, it } from "vitest";
import { BACKENDS } from "../helpers/backends.js";
import { bearer, createUser, putSecret, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Re-encryption running while clients read and write the same secrets: no lost version, no
// reader sees an error, and afterwards everything is under the current epoch.

let env: TestEnv;
afterEach(async () => env?.close());

describe.each(BACKENDS)("re-encryption under load ($name)", (backend) => {
  it("clients reading and writing the same secrets see no error and lose no version", async () => {
    env = await startTestEnv({}, undefined, backend);
    const token = await createUser(env, "alice");
    const userId = (await env.app.inject({ method: "GET", url: "/v1/whoami", headers: bearer(token) })).json().user.id as string;
    const values = new Map<string, string>();
    for (let i = 0; i < 120; i++) {
      const name = `K${i % 30}`;
      const value = `old-${i}`;
      values.set(`${name}@${(await putSecret(env, token, `bot/${name}`, value)).version}`, value);
    }
    await env.rt.epochs.rotate(userId, "test");

    let done = false;
    const errors: string[] = [];
    const client = async (c: number) => {
      for (let i = 0; !done; i++) {
        const name = `K${(c * 7 + i) % 30}`;
        if (i % 3 === 0) {
          const value = `new-${c}-${i}`;
          const r = await env.app.inject({ method: "PUT", url: `/v1/secrets/bot/${name}`, headers: { ...bearer(token), "content-type": "application/octet-stream" }, payload: value });
          if (r.statusCode !== 201) errors.push(`PUT ${r.statusCode} ${r.body}`);
          else values.set(`${name}@${r.json().version}`, value);
        } else {
          const keys = [...values.keys()].filter((k) => k.startsWith(`${name}@`));
          const k = keys[i % keys.length]!;
          const r = await env.app.inject({ method: "GET", url: `/v1/secrets/bot/${name}?version=${k.split("@")[1]}`, headers: bearer(token) });
          if (r.statusCode !== 200) errors.push(`GET ${r.statusCode} ${r.body}`);
          else if (r.json().value !== values.get(k)) errors.push(`GET ${k} gave the wrong value`);
        }
      }
    };
    const clients = Array.from({ length: 8 }, (_, c) => client(c));
    const job = await env.rt.epochs.reencrypt([userId]);
    done = true;
    await Promise.all(clients);

    expect(errors).toEqual([]);
    expect(job.failed).toBe(0);
    // Whatever the job did not move, the readers did (lazily); nothing is left behind.
    expect((await env.rt.epochs.reencrypt([userId])).total).toBe(0);
    for (const [k, v] of values) {
      const [name, version] = k.split("@");
      const r = await env.app.inject({ method: "GET", url: `/v1/secrets/bot/${name}?version=${version}`, headers: bearer(token) });
      expect({ k, value: r.json().value }).toEqual({ k, value: v });
    }
    const list = await env.rt.epochs.list(userId);
    expect(list.map((e) => [e.epoch, e.pointers])).toEqual([
      [1, 0],
      [2, values.size],
    ]);
    // No orphaned ciphertext either: exactly one blob per version.
    let blobs = 0;
    for await (const _ of env.rt.blobs.list(userId)) blobs++;
    expect(blobs).toBe(values.size);
    expect(await env.rt.audit.verify()).toMatchObject({ ok: true });
  });
});
