// The real OpenClaw gateway (pinned, on Node 24) kept by Clawkeep (on the project's Node), over
// a real S3 protocol server (s3rver): the seed 000 boot, provider keys from the vault, chat
// through Clawkeep's pass-through with the user's Clawkeep token only, and disaster recovery
// after the "VM" is killed and wiped. A local OpenAI-compatible server stands for the LLM
// vendor. Mandatory with CI=true (.ci/run installs the peers); skipped with a printed reason on
// a laptop without them.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isSqliteFile } from "../../src/state/sqlite.js";
import { startModelServer, type ModelServer } from "../helpers/model-server.js";
import { openclawBinDir, PEERS_MISSING, SKIP_OPENCLAW } from "../helpers/openclaw-peer.js";
import { bucketDigest, canaryHits, filesBelow, freePort, startVm, type Vm } from "../helpers/openclaw-vm.js";
import { cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";
import { tempDir } from "../helpers/runtime.js";
import { startS3, type S3Server } from "../helpers/s3.js";
import { fuseUnavailable } from "../../src/state/mount.js";

const rnd = () => randomBytes(6).toString("hex");
const MASTER_KEY = `vm-master-key-${rnd()}-${rnd()}`;
const OPENAI_KEY = `sk-canary-${rnd()}${rnd()}`;
// Prompt and reply canaries: each is sent as a user message and comes back in the reply.
const MSG = { first: `MSG-c1${rnd()}`, remember: `MSG-c2${rnd()}`, third: `MSG-c3${rnd()}`, mount: `MSG-c5${rnd()}`, late: `MSG-c6${rnd()}` };
const MEM = `MEM-c4${rnd()}`;
const CONV = "conv-1";
const FUSE = fuseUnavailable();

interface Chat {
  status: number;
  text: string;
}

async function chat(base: string, token: string, user: string, content: string): Promise<Chat> {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "openclaw", user, messages: [{ role: "user", content }] }),
    signal: AbortSignal.timeout(90_000),
  });
  const body = (await r.json().catch(() => ({}))) as { choices?: { message?: { content?: string } }[] };
  return { status: r.status, text: body.choices?.[0]?.message?.content ?? "" };
}

/** The conversation as the gateway itself reports it (its sessions_history tool). */
async function history(base: string, token: string, user: string): Promise<string> {
  const r = await fetch(`${base}/tools/invoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ tool: "sessions_history", args: { sessionKey: `agent:main:openai-user:${user}` } }),
  });
  expect(r.status).toBe(200);
  return JSON.stringify(await r.json());
}

/** Polls the bucket until it has not changed for `quietMs`; when it last changed, or null. */
async function settle(s3dir: string, since: number, quietMs: number): Promise<number | null> {
  let digest = bucketDigest(s3dir);
  let changed: number | null = null;
  let still = Date.now();
  while (Date.now() - still < quietMs) {
    await new Promise((r) => setTimeout(r, 200));
    const d = bucketDigest(s3dir);
    if (d !== digest) {
      digest = d;
      changed = Date.now();
      still = Date.now();
    }
  }
  return changed === null ? null : changed - since;
}

describe.skipIf(SKIP_OPENCLAW)("a real OpenClaw gateway kept by Clawkeep", () => {
  let work: string;
  let s3: S3Server;
  let model: ModelServer;
  let server: ServerProc;
  let user: Record<string, string>;
  let userToken: string;
  let agent: Record<string, string>;
  let port: number;
  let vmEnv: Record<string, string>;
  let gatewayToken: string;
  let configBytes: Buffer;
  const proxied = () => `${server.url}/v1/agents/oc-bot/gateway`;
  const direct = () => `http://127.0.0.1:${port}`;
  const figures: Record<string, unknown> = {};
  const vms: Vm[] = [];
  const boot = (args: string[], extra: Record<string, string> = {}, mountDir?: string) => {
    const vm = startVm(["--port", String(port), "--ready-timeout", "90", ...args], { ...vmEnv, ...extra }, mountDir);
    vms.push(vm);
    return vm;
  };
  // The VM's disk: the state dir and its temp dir (rclone's VFS cache lives there).
  const wipe = (local: string) => {
    rmSync(local, { recursive: true, force: true });
    rmSync(vmEnv.TMPDIR!, { recursive: true, force: true });
    mkdirSync(vmEnv.TMPDIR!, { recursive: true });
  };
  const gatewayCmd = () => ["--", "clawkeep-agent-run", "--", "openclaw", "gateway", "--port", String(port)];

  beforeAll(async () => {
    work = tempDir("ck-openclaw-");
    [s3, model, port] = await Promise.all([startS3("openclaw-vm"), startModelServer(), freePort()]);
    server = await startServer(path.join(work, "clawkeep"));
    user = await cliUser(server, "ops");
    userToken = user.CLAWKEEP_TOKEN!;
    const created = await runCli(["agent", "create", "oc-bot", "--json"], { env: user });
    expect(created.code, created.stderr).toBe(0);
    const a = JSON.parse(created.stdout.toString()) as { agent_id: string; agent_secret: string };
    agent = { CLAWKEEP_ADDR: server.url, CLAWKEEP_AGENT_ID: a.agent_id, CLAWKEEP_AGENT_SECRET: a.agent_secret, CLAWKEEP_TOKEN: "" };
    expect((await runCli(["secret", "put", "oc-bot/OPENAI_API_KEY"], { env: user, input: OPENAI_KEY })).code).toBe(0);
    // The VM's PATH: `openclaw` runs the pinned package on Node 24; `clawkeep-agent-run` is
    // `clawkeep agent run` on the project's Node.
    const bin = openclawBinDir(work);
    writeFileSync(path.join(bin, "clawkeep-agent-run"), `#!/bin/sh\nexec "${process.execPath}" "${path.resolve("bin/clawkeep")}" agent run "$@"\n`, { mode: 0o755 });
    vmEnv = {
      ...s3.env,
      ...agent,
      PATH: `${bin}:${process.env.PATH}`,
      MASTER_KEY,
      MASTER_KEY_FILE: "",
      RCLONE_CRYPT_PASSWORD: "",
      RCLONE_CRYPT_PASSWORD2: "",
      S3_BUCKET: s3.bucket,
      OPENCLAW_GATEWAY_TOKEN: "",
      OPENAI_API_KEY: "",
    };
    // The gateway keeps its own log outside the state dir; point it into the VM's disk.
    vmEnv.TMPDIR = path.join(work, "vm-tmp");
    mkdirSync(vmEnv.TMPDIR, { recursive: true });
  }, 300_000);

  // A test that fails half-way must not leave its VM running into the next one.
  afterEach(async () => {
    for (const vm of vms.splice(0)) await vm.kill9();
  }, 180_000);

  afterAll(async () => {
    for (const d of ["vm1", "vm2", "vm3", "vm4"]) {
      const p = path.join(work, d);
      if (existsSync(p)) spawnSync("fusermount3", ["-u", "-z", p]);
    }
    await server?.stop();
    await model?.stop();
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
    console.log(`[openclaw e2e] figures: ${JSON.stringify(figures)}`);
  }, 300_000);

  it("the peers are installed (Node 24 and the pinned openclaw; mandatory with CI=true)", () => {
    expect(PEERS_MISSING, "run bash .ci/peers.sh").toBeUndefined();
  });

  it("boots as seed 000 shows: keys derived, remote checked, sync fallback, config bootstrapped with the token by reference, gateway ready", async () => {
    const local = path.join(work, "vm1");
    const t0 = Date.now();
    const vm = boot(["--local", local, "--write-back", "2"]);
    await vm.waitFor(/Gateway ready/);
    figures.firstBootToReadyMs = Date.now() - t0;
    const out = vm.output();
    for (const line of [
      "Deriving keys from MASTER_KEY...",
      `S3 storage configured (bucket: ${s3.bucket}), setting up rclone...`,
      "State remote is empty: first boot.",
      "FUSE mount not possible (OpenClaw refuses an rclone mount as its state dir; --mount tries anyway); using the sync fallback.",
      "Bootstrapped openclaw.json (gateway token from OPENCLAW_GATEWAY_TOKEN).",
    ]) expect(out).toContain(line);
    const keys = await runCli(["state", "keys", "--json"], { env: { MASTER_KEY, MASTER_KEY_FILE: "" } });
    gatewayToken = (JSON.parse(keys.stdout.toString()) as { gateway_auth_token: string }).gateway_auth_token;
    // The derived token opens the gateway; anything else does not.
    expect((await fetch(`${direct()}/v1/models`, { headers: { authorization: `Bearer ${gatewayToken}` } })).status).toBe(200);
    expect((await fetch(`${direct()}/v1/models`, { headers: { authorization: `Bearer ${gatewayToken}x` } })).status).toBe(401);
    const cfg = readFileSync(path.join(local, "openclaw.json"), "utf8");
    expect(cfg).toContain("${OPENCLAW_GATEWAY_TOKEN}");
    expect(cfg).not.toContain(gatewayToken);
    expect(out).not.toContain(gatewayToken);
    expect(out).not.toContain(MASTER_KEY);
    expect(out).not.toContain("NodeVersionSupportWarning"); // the AWS SDK's Node 20 notice is not for users
    expect(await vm.stop()).toBe(0);
    expect(vm.output()).toContain("State flushed.");
  }, 180_000);

  it("the operator points the agent at its model; the provider key comes from the vault through agent run and is never on disk", async () => {
    const local = path.join(work, "vm1");
    // What an operator does once: name the provider, with its key by env reference.
    const cfg = JSON.parse(readFileSync(path.join(local, "openclaw.json"), "utf8")) as Record<string, Record<string, unknown>>;
    cfg.models = {
      mode: "merge",
      providers: {
        vendor: {
          baseUrl: model.baseUrl,
          apiKey: "${OPENAI_API_KEY}",
          api: "openai-completions",
          models: [{ id: "echo-1", name: "Echo", reasoning: false, input: ["text"], cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, contextWindow: 32000, maxTokens: 1000 }],
        },
      },
    };
    cfg.agents = { defaults: { model: { primary: "vendor/echo-1" } } };
    writeFileSync(path.join(local, "openclaw.json"), `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });

    const vm = boot(["--no-mount", "--local", local, "--write-back", "2", ...gatewayCmd()]);
    await vm.waitFor(/Gateway ready/);
    expect(vm.output()).toContain("Using the existing openclaw.json.");
    // Register the gateway with Clawkeep: its credential is the derived token, kept in the vault.
    expect((await runCli(["agent", "set-gateway", "oc-bot", direct()], { env: user })).code).toBe(0);
    expect((await runCli(["secret", "put", "oc-bot/GATEWAY_AUTH_TOKEN"], { env: user, input: gatewayToken })).code).toBe(0);

    // Chat through the pass-through with the user's Clawkeep token only.
    const c1 = await chat(proxied(), userToken, CONV, `${MSG.first} hello`);
    expect(c1).toEqual({ status: 200, text: `ECHO: ${MSG.first} | seen: ${MSG.first} | memory: none` });
    const c2 = await chat(proxied(), userToken, CONV, `${MSG.remember} REMEMBER: ${MEM}`);
    expect(c2).toEqual({ status: 200, text: `SAVED | seen: ${MSG.first},${MSG.remember}` });
    const c3 = await chat(proxied(), userToken, CONV, `${MSG.third} and again`);
    expect(c3.text).toBe(`ECHO: ${MSG.third} | seen: ${MSG.first},${MSG.remember},${MSG.third} | memory: ${MEM}`);
    const replied = Date.now();
    // The vendor got the key from the vault; the gateway never saw the user's Clawkeep token.
    expect(model.requests.length).toBeGreaterThanOrEqual(4);
    expect(model.requests.every((r) => r.authorization === `Bearer ${OPENAI_KEY}`)).toBe(true);
    // The user's Clawkeep token does not open the gateway itself, and no token opens the proxy.
    expect((await chat(direct(), userToken, CONV, "MSG-x")).status).toBe(401);
    expect((await fetch(`${proxied()}/v1/models`)).status).toBe(401);

    // Loss window of the sync fallback: how long after the last reply the bucket stops changing.
    figures.syncLossWindowMs = await settle(s3.dir, replied, 6_000);
    expect(figures.syncLossWindowMs).not.toBeNull();
    const onDisk = filesBelow(local);
    expect(onDisk.some((f) => f.endsWith("MEMORY.md"))).toBe(true);
    expect(readFileSync(onDisk.find((f) => f.endsWith("MEMORY.md"))!, "utf8")).toContain(MEM);
    // The provider key is in no file of the state dir, nor in the bucket.
    expect(canaryHits([OPENAI_KEY, gatewayToken, MASTER_KEY], [...onDisk, ...filesBelow(s3.dir)])).toEqual([]);
    // Plaintext never rests in the bucket: no prompt, reply or memory canary in its objects.
    expect(canaryHits([...Object.values(MSG), MEM], filesBelow(s3.dir))).toEqual([]);
    figures.stateFiles = onDisk.length;

    // Destroy the VM: kill -9 everything, delete every local file.
    await vm.kill9();
    expect(await fetch(`${direct()}/health`).then(() => "up", () => "down")).toBe("down");
    wipe(local);
  }, 300_000);

  it("passes no canary into Clawkeep's database, blobs, logs or disk", async () => {
    const clawkeepFiles = filesBelow(path.join(work, "clawkeep"));
    expect(clawkeepFiles.some((f) => f.endsWith("clawkeep.db"))).toBe(true);
    const hits = canaryHits([...Object.values(MSG).slice(0, 3), MEM, OPENAI_KEY, gatewayToken], clawkeepFiles, { "server output": server.output() });
    expect(hits).toEqual([]);
    // The proxy did log the traffic (so the scan above looked at a real log).
    expect(server.output()).toContain('"event":"http_response"');
  });

  it("restores after the VM is destroyed: same token and config, the conversation and memory the gateway wrote, SQLite intact", async () => {
    const local = path.join(work, "vm2");
    const t0 = Date.now();
    const vm = boot(["--no-mount", "--local", local, "--write-back", "2", ...gatewayCmd()]);
    await vm.waitFor(/Gateway ready/);
    figures.restoreBootToReadyMs = Date.now() - t0;
    expect(vm.output()).toContain("keys match");
    expect(vm.output()).toContain("Using the existing openclaw.json.");
    // Same token: the secret stored before the disaster still opens the restored gateway.
    const h = await history(proxied(), userToken, CONV);
    for (const m of [MSG.first, MSG.remember, MSG.third]) expect(h).toContain(m);
    // Same conversation from the gateway's point of view: it sends the old turns to the model.
    const c4 = await chat(proxied(), userToken, CONV, `${MSG.late} after restore`);
    expect(c4.text).toContain(`seen: ${MSG.first},${MSG.remember},${MSG.third},${MSG.late}`);
    // The memory it wrote is loaded into a new session.
    const fresh = await chat(proxied(), userToken, "conv-2", "MSG-new-session");
    expect(fresh.text).toContain(`memory: ${MEM}`);
    expect(await vm.stop()).toBe(0);

    // The restored state, read back the way a new VM would: every SQLite file passes
    // integrity_check, and it holds the config as it was.
    const copy = path.join(work, "pulled");
    const pulled = await runCli(["state", "pull", "--local", copy], { env: vmEnv });
    expect(pulled.code, pulled.stderr).toBe(0);
    const dbs = filesBelow(copy).filter((f) => isSqliteFile(f));
    expect(dbs.length).toBeGreaterThanOrEqual(2);
    for (const f of dbs) {
      const db = new Database(f, { readonly: true });
      try {
        expect(db.pragma("integrity_check", { simple: true }), f).toBe("ok");
      } finally {
        db.close();
      }
    }
    // What OpenClaw rebuilds by itself is not kept: its Control UI cache and its lock files.
    expect(existsSync(path.join(copy, "cache"))).toBe(false);
    expect(existsSync(path.join(copy, "tmp"))).toBe(false);
    expect(existsSync(path.join(local, "cache"))).toBe(true);
    configBytes = readFileSync(path.join(copy, "openclaw.json"));
    expect(configBytes.toString()).toContain("vendor/echo-1");
    expect(canaryHits([OPENAI_KEY, gatewayToken, MASTER_KEY], filesBelow(copy))).toEqual([]);
  }, 300_000);

  describe("refuses to boot, and changes nothing in the bucket, when", () => {
    let before: string;
    beforeAll(() => {
      before = bucketDigest(s3.dir);
    });
    afterAll(() => {
      expect(bucketDigest(s3.dir)).toBe(before);
    });

    it("the MASTER_KEY is wrong", async () => {
      const vm = boot(["--no-mount", "--local", path.join(work, "wrong-key"), ...gatewayCmd()], { MASTER_KEY: `${MASTER_KEY}-not` });
      expect(await vm.exited).not.toBe(0);
      expect(vm.output()).toMatch(/integrity_error/);
      expect(vm.output()).not.toContain(MASTER_KEY);
      expect(existsSync(path.join(work, "wrong-key"))).toBe(false);
      expect(bucketDigest(s3.dir)).toBe(before);
    }, 180_000);

    it("the bucket is unreachable", async () => {
      const dead = await freePort();
      const vm = boot(["--no-mount", "--local", path.join(work, "no-bucket"), ...gatewayCmd()], { S3_ENDPOINT: `http://127.0.0.1:${dead}` });
      expect(await vm.exited).not.toBe(0);
      expect(vm.output()).toMatch(/unreachable|ECONNREFUSED|storage/i);
      expect(existsSync(path.join(work, "no-bucket"))).toBe(false);
    }, 300_000);

    it("the gateway fails to start (its port is taken)", async () => {
      const blocker: Server = createServer((s) => s.destroy());
      await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", r));
      try {
        const local = path.join(work, "blocked");
        const vm = boot(["--no-mount", "--local", local, "--ready-timeout", "20", ...gatewayCmd()]);
        expect(await vm.exited).not.toBe(0);
        expect(vm.output()).toContain("the remote is unchanged");
        expect(bucketDigest(s3.dir)).toBe(before);
      } finally {
        await new Promise((r) => blocker.close(r));
      }
    }, 300_000);
  });

  describe.skipIf(FUSE !== undefined && process.env.CI !== "true")("with the rclone FUSE mount", () => {
    it("FUSE is usable here (mandatory with CI=true)", () => expect(FUSE).toBeUndefined());

    // OpenClaw 2026.9.6 checks that a file keeps its device and inode across its own atomic
    // writes; rclone's mount does not keep them, and the gateway stops with "file identity
    // changed or could not be verified" (or, some runs, stops without a word). This test pins that finding (it fails, and the docs
    // need updating, the day a gateway starts there) and shows the bucket survives the try.
    it("--mount: the gateway refuses the rclone mount; the bucket still restores whole", async () => {
      const local = path.join(work, "vm3");
      const vm = boot(["--mount", "--local", local, ...gatewayCmd()], {}, local);
      expect(await vm.exited).not.toBe(0);
      expect(vm.output()).toContain(`rclone FUSE mount ready at ${local}`);
      // The gateway's own words vary from run to run (it names the identity check, the directory
      // mode check, or exits without a word after its doctor pass); what holds is that it never
      // becomes ready and Clawkeep says so.
      expect(vm.output()).toContain("The command exited before it was ready");
      expect(vm.output()).not.toMatch(/Gateway ready/);
      expect(vm.output()).toContain("State flushed.");
      expect(readFileSync("/proc/mounts", "utf8")).not.toContain(` ${local} `);

      const next = path.join(work, "vm4");
      const vm2 = boot(["--local", next, ...gatewayCmd()]);
      await vm2.waitFor(/Gateway ready/);
      const h = await history(proxied(), userToken, CONV);
      for (const m of [MSG.first, MSG.remember, MSG.third, MSG.late]) expect(h).toContain(m);
      expect((await chat(proxied(), userToken, "conv-3", `${MSG.mount} after the mount try`)).text).toContain(`memory: ${MEM}`);
      expect(await vm2.stop()).toBe(0);
      for (const f of filesBelow(next).filter((x) => isSqliteFile(x))) {
        const db = new Database(f, { readonly: true });
        try {
          expect(db.pragma("integrity_check", { simple: true }), f).toBe("ok");
        } finally {
          db.close();
        }
      }
    }, 300_000);
  });
});
