import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { tempDir } from "../helpers/runtime.js";
import { cliAgent, cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";
import { startRecordingProxy } from "../helpers/recording-proxy.js";

// Seed 002 §5: a recording proxy between the agent and the server captures every byte of a full
// `agent run`. Neither the agent secret, nor ENCRYPTION_SECRET, nor any E2EE plaintext may appear
// in it; and nothing at rest (database, blobs) holds them either.

const E2EE_PLAINTEXT = "e2ee-plaintext-c4nary-91b2";
const ENCRYPTION_SECRET = "encryption-secret-c4nary-5d7e";

describe("MITM simulation: agent ⇄ recording proxy ⇄ server", () => {
  let dir: string;
  let server: ServerProc;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let agent: { agent_id: string; agent_secret: string };

  beforeAll(async () => {
    dir = tempDir();
    server = await startServer(dir);
    const user = await cliUser(server, "ops");
    agent = await cliAgent(user, "mitm-bot");
    const pf = path.join(dir, "pass");
    writeFileSync(pf, ENCRYPTION_SECRET, { mode: 0o600 });
    const put = await runCli(["secret", "put", "--e2ee", "--passphrase-file", pf, "mitm-bot/PROVIDER_KEY"], { env: user, input: E2EE_PLAINTEXT });
    expect(put.code, put.stderr).toBe(0);
    expect((await runCli(["secret", "put", "mitm-bot/REGION"], { env: user, input: "eu-west-1" })).code).toBe(0);
    proxy = await startRecordingProxy(new URL(server.url));
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the wire carries the signed handshake and the envelope, never the keys or the E2EE plaintext", async () => {
    const r = await runCli(["agent", "run", "--", "sh", "-c", 'test "$PROVIDER_KEY" = "$WANT" && echo injected'], {
      env: { CLAWKEEP_ADDR: proxy.url, CLAWKEEP_AGENT_ID: agent.agent_id, CLAWKEEP_AGENT_SECRET: agent.agent_secret, ENCRYPTION_SECRET, WANT: E2EE_PLAINTEXT },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe("injected\n");
    const wire = proxy.captured().toString("latin1");
    // The capture is the real exchange: handshake, token, the envelope, the plain secret.
    expect(wire).toContain("POST /v1/agents/handshake");
    expect(wire).toContain(agent.agent_id);
    expect(wire).toContain('\\"alg\\":\\"A256GCM\\"');
    expect(wire).toContain("eu-west-1");
    for (const [label, s] of [
      ["agent secret", agent.agent_secret],
      ["agent secret body", agent.agent_secret.slice(4)],
      ["agent secret (base64)", Buffer.from(agent.agent_secret).toString("base64")],
      ["ENCRYPTION_SECRET", ENCRYPTION_SECRET],
      ["E2EE plaintext", E2EE_PLAINTEXT],
      ["E2EE plaintext (base64)", Buffer.from(E2EE_PLAINTEXT).toString("base64")],
    ] as const) {
      expect(wire.includes(s), label).toBe(false);
    }
  });

  it("the database, WAL and blob store hold none of them either", () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d)) {
        const p = path.join(d, e);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(dir);
    expect(files.some((f) => f.endsWith(".enc"))).toBe(true);
    for (const f of files.filter((x) => path.basename(x) !== "pass")) {
      const bytes = readFileSync(f).toString("latin1");
      for (const s of [agent.agent_secret, agent.agent_secret.slice(4), ENCRYPTION_SECRET, E2EE_PLAINTEXT]) expect(bytes.includes(s), `${path.relative(dir, f)}`).toBe(false);
    }
  });
});
